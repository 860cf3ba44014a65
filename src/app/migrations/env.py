"""Alembic environment: runs on the connection that `runner.upgrade_head` hands over.

One transaction per revision: a failing revision leaves the schema as the revision before it left it,
and a revision may use `op.get_context().autocommit_block()` for statements Postgres runs only
outside a transaction (0003 builds its index `CONCURRENTLY`).

`alembic revision --autogenerate -m "..."` (from the repository root, with DATABASE_URL set) also
works: it opens its own connection from the settings.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from app.store.tables import metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        compare_type=True,
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_standalone() -> None:
    from app.settings import DatabaseSettings  # noqa: PLC0415

    engine = create_async_engine(DatabaseSettings().database_url.get_secret_value())
    async with engine.connect() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    asyncio.run(_run_standalone())
