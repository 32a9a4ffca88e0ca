"""Named errors, raised where a problem is detected and translated only at the edges (CLI, HTTP)."""


class QAError(Exception):
    """Base class of every error this package raises on purpose."""


class DocumentReadError(QAError):
    """A document file cannot be read as text (binary, empty, wrong encoding, PDF without text layer)."""


class IndexMissingError(QAError):
    """There is no index in the index folder."""


class IndexInvalidError(QAError):
    """The index folder exists but cannot be used (other model or format, missing or corrupted file)."""


class EmbeddingError(QAError):
    """The embedding model cannot be loaded or used."""


class InvalidQueryError(QAError):
    """A question, filter or option given by a caller is not acceptable."""

    def __init__(self, message: str, code: str = "invalid_query", field: str | None = None):
        super().__init__(message)
        # `code` is machine-readable (the API's error.code); `field` names the input that is wrong, if one is.
        self.code = code
        self.field = field


class ConfigError(QAError):
    """A setting (flag, QA_* environment variable, override) has no meaning or an unusable value."""


class NotFoundError(QAError):
    """A document or chunk id that is not in the index."""


class CorpusError(QAError):
    """The corpus folder is missing, holds no documents, or none of its documents can be read."""


class IndexWriteError(QAError):
    """The index folder cannot be written (a full disk, no permission) or is not an index folder to replace."""


class IndexLockedError(QAError):
    """Another build is writing the same index folder right now."""


class IndexFactoryError(QAError):
    """The FAISS factory string is invalid or cannot index the vectors at hand."""


class ExportError(QAError):
    """The parliament's open-data export cannot be read (missing, not well-formed, not a PARDOK export)."""


class SyncError(QAError):
    """A sync cannot run (export not downloadable, corpus folder or state file not writable)."""


class DownloadError(QAError):
    """One file could not be downloaded, or what arrived is not a whole PDF with a text layer."""


def first_line(exc: BaseException) -> str:
    """Return the first line of `exc`'s message (its type name when empty), to quote in a one-line error."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
