"""E2/E4: `.env.example` documents exactly the settings the service reads, with placeholders only.

`app.settings.Settings` is the source of truth: every field is an environment variable with the
upper-cased name. The example may also hold the OpenTelemetry SDK's variables and the ones only
docker-compose.yml reads, listed below; anything else is a variable nobody reads.
"""

from __future__ import annotations

import re
import subprocess
from typing import get_args
from urllib.parse import urlsplit

import pytest
from pydantic import SecretStr

from app.settings import Settings
from tests.infra.conftest import ROOT

ENV_EXAMPLE = ROOT / ".env.example"
COMPOSE_FILE = ROOT / "docker-compose.yml"

# `KEY=value` is set; `# KEY=value` documents a default (uncommenting it changes nothing).
ENTRY = re.compile(r"^(?P<commented># )?(?P<name>[A-Z][A-Z0-9_]*)=(?P<value>.*)$")

# Read by the OpenTelemetry SDK (and app.observability.tracing) from the process environment.
OTEL_VARIABLES = frozenset(
    {
        "OTEL_SDK_DISABLED",
        "OTEL_SERVICE_NAME",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_TRACES_SAMPLER",
        "OTEL_TRACES_SAMPLER_ARG",
    }
)
# Read only by docker-compose.yml, for ${...} interpolation.
COMPOSE_VARIABLES = frozenset(
    {
        "POSTGRES_PASSWORD",
        "GRAFANA_ADMIN_PASSWORD",
        "APP_PORT",
        "APP_METRICS_PORT",
        "APP_DEV_PORT",
        "APP_DEV_METRICS_PORT",
        "POSTGRES_HOST_PORT",
        "REDIS_HOST_PORT",
    }
)
# Secrets that are not SecretStr fields of Settings.
OTHER_SECRETS = frozenset({"POSTGRES_PASSWORD", "GRAFANA_ADMIN_PASSWORD"})
PLACEHOLDER_MARK = "change-me"


def entries() -> list[tuple[str, str, bool]]:
    """(name, value, commented) for every variable line, in file order."""
    found = []
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = ENTRY.match(line)
        if match:
            found.append((match["name"], match["value"], bool(match["commented"])))
    return found


def setting_names() -> set[str]:
    return {name.upper() for name in Settings.model_fields}


def secret_settings() -> set[str]:
    def is_secret(annotation: object) -> bool:
        return annotation is SecretStr or SecretStr in get_args(annotation)

    return {name.upper() for name, field in Settings.model_fields.items() if is_secret(field.annotation)}


def is_placeholder(value: str) -> bool:
    """A placeholder says so, or is a URL without credentials (a local Redis needs none)."""
    if PLACEHOLDER_MARK in value:
        return True
    return "://" in value and urlsplit(value).password is None and urlsplit(value).username is None


def load(monkeypatch: pytest.MonkeyPatch, values: dict[str, str]) -> Settings:
    """Settings from exactly these environment variables (and no .env file)."""
    for name in setting_names() | OTEL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return Settings(_env_file=None)


def test_every_setting_is_in_env_example() -> None:
    missing = setting_names() - {name for name, _, _ in entries()}
    assert not missing, (
        f"E2: settings missing from .env.example: {sorted(missing)}; add each with a comment and its "
        "default (`# NAME=default`) or a placeholder"
    )


def test_env_example_holds_only_variables_something_reads() -> None:
    unknown = {name for name, _, _ in entries()} - setting_names() - OTEL_VARIABLES - COMPOSE_VARIABLES
    assert not unknown, (
        f"E2: .env.example documents variables nothing reads: {sorted(unknown)}; remove them, or add them to "
        "Settings, or (compose-only) to COMPOSE_VARIABLES in this test"
    )


def test_each_variable_is_listed_once() -> None:
    names = [name for name, _, _ in entries()]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    assert not duplicates, f"E2: listed more than once in .env.example: {duplicates}"


def test_compose_only_variables_are_used_by_compose() -> None:
    compose = COMPOSE_FILE.read_text()
    unused = sorted(name for name in COMPOSE_VARIABLES if f"${{{name}:" not in compose)
    assert not unused, f"E2: compose-only variables that docker-compose.yml never reads: {unused}"


def test_documented_defaults_are_the_real_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = []
    for name, value, commented in entries():
        field = Settings.model_fields.get(name.lower())
        if not commented or field is None or field.default is None:
            continue  # set on purpose, not a setting, or "unset" is the default
        loaded = getattr(load(monkeypatch, {"API_KEYS": "x" * 16, name: value}), name.lower())
        if loaded != field.default:
            wrong.append(f"{name}={value} (the default is {field.default!r})")
    assert not wrong, f"E2: .env.example shows defaults that are not the defaults: {wrong}"


def test_env_example_is_a_valid_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    # Uncommenting any line must never produce a configuration the app refuses at start-up (E4).
    values = {name: value for name, value, _ in entries() if name in setting_names()}
    settings = load(monkeypatch, values)
    assert settings.api_keys, "E4: .env.example's API_KEYS must be a valid key list"


def test_secrets_are_placeholders() -> None:
    secrets = secret_settings() | OTHER_SECRETS
    assert {"DATABASE_URL", "REDIS_URL", "API_KEYS"} <= secrets, (
        "the secret settings changed: update this test"
    )
    real = sorted(name for name, value, _ in entries() if name in secrets and not is_placeholder(value))
    assert not real, (
        f"E2: .env.example must hold placeholders only; make these say '{PLACEHOLDER_MARK}': {real}"
    )


def test_env_is_git_ignored_and_example_is_not() -> None:
    def ignored(path: str) -> bool:
        result = subprocess.run(
            ["git", "check-ignore", "--quiet", "--no-index", path], cwd=ROOT, check=False, capture_output=True
        )
        return result.returncode == 0

    for path in (".env", ".env.local", ".env.production"):
        assert ignored(path), f"E2: {path} must be git-ignored: add `.env` and `.env.*` to .gitignore"
    assert not ignored(".env.example"), (
        "E2: .env.example must be committed: add `!.env.example` to .gitignore"
    )
