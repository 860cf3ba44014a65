"""The one validated settings object, read from the environment once at start-up.

Precedence: real environment variables, then a `.env` file in the working directory (local
development only; the image and the platform set real variables), then the defaults below. Every
value is validated here, so a bad one stops start-up with one line naming the variable
(`format_errors`). Secrets are `SecretStr`: their values never reach a repr, a log line or an error.
"""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.flags import Rollout

Seconds = Annotated[float, Field(gt=0, le=3600)]


class DatabaseSettings(BaseSettings):
    """What `python -m app migrate` needs: Postgres and the log level. `Settings` adds the rest."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    # Postgres.
    database_url: SecretStr = SecretStr("postgresql+asyncpg://postgres@127.0.0.1:5432/app")
    # The one pool every query takes (app.store.postgres): DB_POOL_SIZE connections per process at most.
    db_pool_size: int = Field(default=10, ge=1, le=200)
    db_pool_timeout: Seconds = 2.0
    db_connect_timeout: Seconds = 3.0
    db_statement_timeout: Seconds = 5.0

    # Logs.
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, url: SecretStr) -> SecretStr:
        scheme = _scheme(url)
        if scheme not in {"postgresql", "postgres", "postgresql+asyncpg"}:
            raise ValueError("must be a postgresql:// URL")
        rest = url.get_secret_value().split("://", 1)[1]
        return SecretStr(f"postgresql+asyncpg://{rest}")


class Settings(DatabaseSettings):
    """Everything `python -m app serve` reads."""

    # Identity of this deployment.
    app_env: Literal["dev", "test", "staging", "prod"] = "dev"
    app_version: str = Field(default="0.1.0", max_length=64)
    release_id: str = Field(default="local", max_length=64, description="Commit SHA of the build.")

    # HTTP server (uvicorn). Keep-alive must outlive the load balancer's 60 s idle timeout, so the
    # balancer, not the app, closes idle connections (otherwise it can reuse one we just closed: 502).
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    metrics_port: int = Field(default=9000, ge=0, le=65535, description="0 disables /metrics.")
    forwarded_allow_ips: str = "127.0.0.1"
    keep_alive_timeout: int = Field(default=75, ge=1, le=3600)
    drain_seconds: float = Field(default=5.0, ge=0, le=300)
    graceful_timeout: float = Field(default=20.0, gt=0, le=300)
    max_body_bytes: int = Field(default=65_536, ge=1024, le=10_485_760)
    # What one client may hold (app/http_protocol.py): a request head's size and header count, the
    # seconds its head, then its body, may take to arrive, and the connections open at once. Keep the
    # connection cap below the open-file limit, less the pools' connections (DB_* and
    # REDIS_MAX_CONNECTIONS).
    max_head_bytes: int = Field(default=65_536, ge=4096, le=1_048_576)
    max_header_count: int = Field(default=100, ge=16, le=10_000)
    head_read_timeout: float = Field(default=10.0, gt=0, le=30)
    body_read_timeout: float = Field(default=30.0, gt=0, le=300)
    max_client_connections: int = Field(default=800, ge=1, le=100_000)
    docs_enabled: bool | None = None
    cors_origins: Annotated[list[str], NoDecode] = []

    # Redis: idempotency keys. Its timeout is short: Redis is a speed-up, never a wait.
    redis_url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")
    redis_timeout: Seconds = 0.25
    redis_max_connections: int = Field(default=64, ge=1, le=10_000)
    redis_key_prefix: str = Field(default="app:", max_length=64)
    idempotency_ttl: int = Field(default=86_400, ge=60, le=604_800)

    # Auth: several keys may be valid at once so they can be rotated without downtime.
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(min_length=1)

    # Health probes.
    # Each dependency probe must finish well inside a 1 s orchestrator probe timeout.
    health_timeout: float = Field(default=0.5, gt=0, lt=1.0)
    health_cache_seconds: float = Field(default=1.0, ge=0, le=60)

    # Traces: the most requests a second traced because the caller's `traceparent` says sampled
    # (the rest of the sampling is OTEL_TRACES_SAMPLER's; app.observability.tracing). 0: none.
    trace_sampled_parents_per_second: float = Field(default=20.0, ge=0, le=100_000)

    # Feature flags (`FF_*`): false | true | beta.
    ff_new_checkout: Rollout = Rollout.OFF

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [key.strip() for key in value.split(",") if key.strip()]
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("api_keys")
    @classmethod
    def _long_keys(cls, keys: list[SecretStr]) -> list[SecretStr]:
        if any(len(key.get_secret_value()) < 16 for key in keys):
            raise ValueError("every key must be at least 16 characters")
        return keys

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, url: SecretStr) -> SecretStr:
        if _scheme(url) not in {"redis", "rediss"}:
            raise ValueError("must be a redis:// or rediss:// URL")
        return url

    @property
    def show_docs(self) -> bool:
        return self.docs_enabled if self.docs_enabled is not None else self.app_env in {"dev", "test"}


def _scheme(url: SecretStr) -> str:
    value = url.get_secret_value()
    if "://" not in value:
        raise ValueError("must be a URL with a scheme")
    return urlsplit(value).scheme


def format_errors(error: ValidationError) -> str:
    """One line per bad variable, naming it and what is wrong; the rejected value is never shown."""
    lines = []
    for item in error.errors(include_input=False, include_url=False):
        field = str(item["loc"][0]).upper() if item["loc"] else "settings"
        lines.append(f"invalid setting {field}: {item['msg']}")
    return "\n".join(lines)
