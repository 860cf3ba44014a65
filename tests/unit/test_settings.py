"""The settings object: defaults, parsing, and one line per bad variable without its value."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from app.flags import Rollout
from app.settings import DatabaseSettings, Settings, format_errors

KEY = "k" * 16


def _settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)


def _errors(**values: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        _settings(**values)
    return format_errors(caught.value)


def test_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_KEYS", f"{KEY}, {'n' * 20} ,")
    monkeypatch.setenv("FF_NEW_CHECKOUT", "beta")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:pw@db:5432/app")
    settings = Settings(_env_file=None)
    assert [key.get_secret_value() for key in settings.api_keys] == [KEY, "n" * 20]
    assert settings.ff_new_checkout is Rollout.BETA
    assert settings.log_level == "DEBUG"
    assert settings.database_url.get_secret_value() == "postgresql+asyncpg://u:pw@db:5432/app"


def test_secrets_never_show_in_repr() -> None:
    settings = _settings(api_keys=KEY, database_url="postgresql://u:hunter2@db/app")
    assert "hunter2" not in repr(settings)
    assert KEY not in repr(settings)


@pytest.mark.parametrize(
    ("values", "variable"),
    [
        ({}, "API_KEYS"),
        ({"api_keys": "short"}, "API_KEYS"),
        ({"api_keys": KEY, "port": "http"}, "PORT"),
        ({"api_keys": KEY, "ff_new_checkout": "maybe"}, "FF_NEW_CHECKOUT"),
        ({"api_keys": KEY, "redis_url": "http://cache"}, "REDIS_URL"),
        ({"api_keys": KEY, "health_timeout": 1.5}, "HEALTH_TIMEOUT"),
        ({"api_keys": KEY, "app_env": "production"}, "APP_ENV"),
        ({"api_keys": KEY, "database_url": "no scheme"}, "DATABASE_URL"),
        ({"api_keys": KEY, "head_read_timeout": 60}, "HEAD_READ_TIMEOUT"),
        ({"api_keys": KEY, "body_read_timeout": 0}, "BODY_READ_TIMEOUT"),
        ({"api_keys": KEY, "max_head_bytes": 100}, "MAX_HEAD_BYTES"),
        ({"api_keys": KEY, "max_header_count": 0}, "MAX_HEADER_COUNT"),
        ({"api_keys": KEY, "max_client_connections": 0}, "MAX_CLIENT_CONNECTIONS"),
    ],
)
def test_a_bad_value_names_its_variable(values: dict[str, Any], variable: str) -> None:
    message = _errors(**values)
    assert message.startswith(f"invalid setting {variable}: "), message
    assert len(message.splitlines()) == 1


def test_the_rejected_value_is_never_printed() -> None:
    message = _errors(api_keys=KEY, database_url="mysql://root:hunter2@db/app")
    assert "hunter2" not in message


def test_docs_default_on_only_in_dev_and_test() -> None:
    assert _settings(api_keys=KEY, app_env="dev").show_docs
    assert not _settings(api_keys=KEY, app_env="prod").show_docs
    assert _settings(api_keys=KEY, app_env="prod", docs_enabled=True).show_docs


def test_the_database_settings_need_no_api_keys() -> None:
    """`python -m app migrate` reads these; the serve settings extend them and add API_KEYS."""
    settings = DatabaseSettings(_env_file=None, database_url="postgresql://u@db/app", log_level="debug")
    assert settings.database_url.get_secret_value() == "postgresql+asyncpg://u@db/app"
    assert settings.log_level == "DEBUG"
    assert "api_keys" not in DatabaseSettings.model_fields
    assert DatabaseSettings.model_fields.keys() <= Settings.model_fields.keys()
