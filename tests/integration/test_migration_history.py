"""Every migration, on a real Postgres: each revision upgrades, downgrades and upgrades again, and the
schema at head is the one `app.store.tables` describes (docs/extending.md, "Add a migration").

Autogenerate's comparison (`compare_metadata`) covers tables, columns, types, nullability, indexes,
unique and foreign keys; it does not compare CHECK constraints, so the test compares those itself, by
name (tables.py's naming convention names each one) and by expression.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import CheckConstraint, Connection, text
from sqlalchemy.ext.asyncio import create_async_engine

from app.migrations.runner import alembic_config
from app.store.tables import metadata


def _on(dsn: str, work: Callable[[Connection], Any]) -> Any:
    """Run `work` on one connection, as `python -m app migrate` does: Alembic begins and commits each
    revision's transaction itself."""

    async def run() -> Any:
        engine = create_async_engine(dsn.replace("postgresql://", "postgresql+asyncpg://", 1))
        try:
            async with engine.connect() as connection:
                result = await connection.run_sync(work)
                await connection.commit()
                return result
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _alembic(step: Callable[..., None], revision: str) -> Callable[[Connection], None]:
    def run(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        step(config, revision)

    return run


def _schema(connection: Connection) -> dict[str, Any]:
    """What a revision leaves: columns, constraints and indexes of the tables (Alembic's own aside)."""
    columns = connection.execute(
        text(
            "SELECT table_name, column_name, data_type, is_nullable, column_default "
            "FROM information_schema.columns WHERE table_schema = 'public' "
            "AND table_name <> 'alembic_version' ORDER BY 1, 2"
        )
    ).all()
    constraints = connection.execute(
        text(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE connamespace = 'public'::regnamespace AND conrelid::regclass::text <> 'alembic_version' "
            "ORDER BY 1, 2"
        )
    ).all()
    indexes = connection.execute(
        text(
            "SELECT tablename, indexdef FROM pg_indexes "
            "WHERE schemaname = 'public' AND tablename <> 'alembic_version' ORDER BY 1, 2"
        )
    ).all()
    return {"columns": columns, "constraints": constraints, "indexes": indexes}


def test_every_revision_upgrades_downgrades_and_upgrades_again(empty_database: str) -> None:
    script = ScriptDirectory.from_config(alembic_config())
    revisions = list(reversed(list(script.walk_revisions())))  # oldest first
    assert [r.revision for r in revisions][:2] == ["0001", "0002"]
    assert len(script.get_heads()) == 1, f"more than one head: {script.get_heads()}"
    for revision in revisions:
        below = revision.down_revision or "base"
        assert isinstance(below, str), f"{revision.revision} merges branches: number revisions in a line"
        before = _on(empty_database, _schema)
        _on(empty_database, _alembic(command.upgrade, revision.revision))
        after = _on(empty_database, _schema)
        _on(empty_database, _alembic(command.downgrade, below))
        assert _on(empty_database, _schema) == before, (
            f"{revision.revision}'s downgrade leaves another schema"
        )
        _on(empty_database, _alembic(command.upgrade, revision.revision))
        assert _on(empty_database, _schema) == after, (
            f"{revision.revision} upgrades differently the second time"
        )


def _database_checks(connection: Connection) -> dict[str, str]:
    rows = connection.execute(
        text(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE contype = 'c' AND connamespace = 'public'::regnamespace"
        )
    ).all()
    return {str(name): str(definition) for name, definition in rows}


def _head_differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


def test_the_schema_at_head_is_tables_py(empty_database: str) -> None:
    _on(empty_database, _alembic(command.upgrade, "head"))
    differences = _on(empty_database, _head_differences)
    assert not differences, f"the migrations and tables.py disagree (autogenerate would write): {differences}"

    declared = {
        str(constraint.name): str(constraint.sqltext)
        for table in metadata.tables.values()
        for constraint in table.constraints
        if isinstance(constraint, CheckConstraint)
    }
    in_database = _on(empty_database, _database_checks)
    assert set(in_database) == set(declared), (
        f"CHECK constraints: tables.py {sorted(declared)}, the migrations {sorted(in_database)}"
    )
    for name, expression in declared.items():
        # Postgres prints its own form (`CHECK ((total_cents >= 0))`, `IN` as `= ANY (ARRAY[...])`):
        # compare the words and values, not the punctuation.
        words = {
            w for w in expression.replace("(", " ").replace(")", " ").replace(",", " ").split() if w != "IN"
        }
        printed = in_database[name]
        assert all(word in printed for word in words), (
            f"{name}: tables.py {expression!r}, database {printed!r}"
        )
