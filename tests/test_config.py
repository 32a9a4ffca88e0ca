"""Settings: defaults < QA_* environment < explicit overrides, and nothing unknown is silently dropped."""
from __future__ import annotations

from pathlib import Path

import pytest

from qa_service.config import Settings, load_settings
from qa_service.errors import ConfigError


def test_environment_overrides_defaults_and_flags_override_the_environment():
    settings = load_settings(environ={"QA_INDEX_DIR": "/srv/index", "QA_SERVER_THREADS": "4"}, server_threads=2)
    assert settings.index_dir == Path("/srv/index") and settings.server_threads == 2
    assert load_settings(environ={}).server_threads == Settings().server_threads


def test_an_unknown_override_is_refused_not_dropped():
    with pytest.raises(ConfigError, match="index_directory"):
        Settings().with_overrides(index_directory="/tmp/x")


def test_a_malformed_environment_value_is_one_clear_error():
    with pytest.raises(ConfigError, match="QA_SERVER_THREADS"):
        load_settings(environ={"QA_SERVER_THREADS": "many"})


def test_waitress_limits_are_set_on_purpose():
    from qa_service.server import waitress_options

    options = waitress_options(Settings())
    assert options["channel_timeout"] < 120 and options["connection_limit"] > 100
    assert options["max_request_body_size"] == 64 * 1024
