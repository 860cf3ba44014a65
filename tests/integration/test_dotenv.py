"""The quick start (`cp .env.example .env`) leaves the suite green: no test reads the developer's `.env`.

pydantic-settings reads `.env` from the working directory, and pytest runs in the project root, where
the quick start puts one. Here a hostile `.env` sits in the directory the tests run from: settings
built by `make_settings`, a server started by `ServerProcess` and a command run by `run_app` must act
on the test's own values, never on that file's.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.conftest import API_KEY, make_settings
from tests.integration.server import ServerProcess, run_app, server_env

DOTENV_KEY = "dotenv-key-0123456789abcdef"
# Each line breaks the test that reads it: another key, another database, values that stop start-up.
HOSTILE = f"""
API_KEYS={DOTENV_KEY}
DATABASE_URL=postgresql://hostile@127.0.0.1:1/hostile
REDIS_KEY_PREFIX=hostile:
HEALTH_CACHE_SECONDS=not-a-number
FF_NEW_CHECKOUT=not-a-rollout
"""


@pytest.fixture(autouse=True)
def hostile_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text(HOSTILE, encoding="utf-8")
    monkeypatch.chdir(tmp_path)


def test_test_settings_ignore_the_dotenv(database_url: str) -> None:
    settings = make_settings(database_url=database_url)
    assert API_KEY in {key.get_secret_value() for key in settings.api_keys}
    assert DOTENV_KEY not in {key.get_secret_value() for key in settings.api_keys}
    assert "hostile" not in settings.database_url.get_secret_value()
    assert settings.health_cache_seconds == 0


def test_a_command_without_api_keys_still_refuses_to_serve(database_url: str) -> None:
    result = run_app("serve", {"PATH": "/usr/bin:/bin", "DATABASE_URL": database_url}, timeout=30)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.strip() == "invalid setting API_KEYS: Field required"


def test_a_test_server_serves_with_the_test_settings(database_url: str, redis_prefix: str) -> None:
    with ServerProcess(server_env(database_url, redis_prefix)) as server:
        ready = server.wait_until_ready()
        assert ready.status_code == 200, ready.text
        refused = httpx.get(f"{server.url}/v1/customers/{'0' * 8}", headers={"X-API-Key": DOTENV_KEY})
        assert refused.status_code == 401, "the server took the .env's API key"
