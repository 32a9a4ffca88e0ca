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


class NotFoundError(QAError):
    """A document or chunk id that is not in the index."""
