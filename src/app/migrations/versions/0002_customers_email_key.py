"""customers: unique on a case-folded, NFKC-normalised email key

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03

Emails were unique only as lower-cased, so `STRASSE@…` and `straße@…`, or `FI…` and `ﬁ…`, were two
customers. The key (`email_key`) folds those together. Existing rows get their key computed here,
in batches; the old unique index stays until the new one is built.

Existing customers whose emails share a key are never merged or renamed here: which one is the real
account is a business decision (both may have orders). The migration stops before building the index,
names the customer IDs that collide, and changes nothing (it runs in one transaction); resolve them
and run it again.
"""

import unicodedata
import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 1000
_MAX_KEY = 320  # the column's length, as app.domain.customers.MAX_EMAIL_KEY
_SHOWN_COLLISIONS = 20


def email_key(email: str) -> str:
    """A copy of app.domain.customers.email_key as of this revision: a migration must not change when
    the application's code does (tests/unit/test_email_key.py checks that they agree)."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", email).casefold())


def upgrade() -> None:
    op.add_column("customers", sa.Column("email_key", sa.String(length=320), nullable=True))
    _fill_keys(op.get_bind())
    _refuse_collisions(op.get_bind())
    op.alter_column("customers", "email_key", nullable=False)
    op.create_index("uq_customers_email_key", "customers", ["email_key"], unique=True)
    op.drop_index("uq_customers_email", table_name="customers")


def downgrade() -> None:
    op.create_index("uq_customers_email", "customers", ["email"], unique=True)
    op.drop_index("uq_customers_email_key", table_name="customers")
    op.drop_column("customers", "email_key")


def _fill_keys(connection: sa.Connection) -> None:
    select = sa.text("SELECT id, email FROM customers WHERE id > :after ORDER BY id LIMIT :batch")
    update = sa.text("UPDATE customers SET email_key = :key WHERE id = :id")
    after = uuid.UUID(int=0)  # the smallest UUID: batches in key order, each after the last one seen
    while rows := connection.execute(select, {"after": after, "batch": _BATCH}).all():
        keys = [{"id": row.id, "key": email_key(row.email)} for row in rows]
        too_long = [str(key["id"]) for key in keys if len(key["key"]) > _MAX_KEY]
        if too_long:
            raise RuntimeError(
                f"the email keys of customers {', '.join(too_long)} are longer than {_MAX_KEY} characters;"
                " change those emails, then run the migration again; nothing was changed."
            )
        connection.execute(update, keys)
        after = rows[-1].id


def _refuse_collisions(connection: sa.Connection) -> None:
    groups = connection.execute(
        sa.text(
            "SELECT array_agg(id::text ORDER BY created_at, id) AS ids FROM customers"
            " GROUP BY email_key HAVING count(*) > 1"
        )
    ).all()
    if not groups:
        return
    shown = "; ".join(", ".join(group.ids) for group in groups[:_SHOWN_COLLISIONS])
    raise RuntimeError(
        f"{len(groups)} groups of customers share an email once case-folded and NFKC-normalised, so the"
        f" unique index on customers.email_key cannot be built. Customer IDs, oldest first: {shown}."
        " Merge or change those accounts, then run the migration again; nothing was changed."
    )
