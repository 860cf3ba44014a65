"""`python -m app migrate`: upgrade to head on one connection, under an advisory lock.

The lock makes concurrent runs (two deploys, a retried one-off task) queue instead of racing. It is
the session's, not a transaction's: each revision commits in a transaction of its own (env.py), so a
revision can step out of its transaction for what Postgres refuses inside one (`CREATE INDEX
CONCURRENTLY`, a `VALIDATE CONSTRAINT` that must not hold the table's lock), and the lock spans them
all. It is released when the connection closes, failed or not.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import create_async_engine

from app.settings import DatabaseSettings

MIGRATIONS = Path(__file__).parent
_LOCK_ID = 0x0DE5_0001  # any constant shared by every migrate run of this service


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def _upgrade(connection: Connection) -> None:
    connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": _LOCK_ID})
    connection.commit()  # Alembic begins each revision's transaction itself
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def upgrade_head(settings: DatabaseSettings) -> None:
    engine = create_async_engine(
        settings.database_url.get_secret_value(), connect_args={"timeout": settings.db_connect_timeout}
    )
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_upgrade)
    finally:
        await engine.dispose()
