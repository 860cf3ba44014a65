"""orders: a status (placed, cancelled), and an index for a customer's orders, newest first

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07

Safe on a live, large `orders` table: nothing rewrites it, and nothing holds a lock that stops reads
or writes for longer than a catalogue change.

1. In the revision's transaction, each step a catalogue change under a brief `ACCESS EXCLUSIVE` lock,
   given up after `lock_timeout` rather than queueing every request behind a long transaction:
   - `ADD COLUMN status ... NOT NULL DEFAULT 'placed'`: a constant default is stored in the catalogue
     (PostgreSQL 11 and later) and existing rows read it from there; no row is rewritten.
   - the CHECK constraint, `NOT VALID`: enforced on every write from now on, existing rows unchecked.
2. Committed, then outside any transaction (`autocommit_block`), each step under `SHARE UPDATE
   EXCLUSIVE`, which lets reads and writes go on:
   - `VALIDATE CONSTRAINT`: scans the existing rows once.
   - `CREATE INDEX CONCURRENTLY` on (customer_id, created_at, id), which serves the customer's order
     list (keyset pagination, newest first) and, through its leading column, everything the
     customer_id index served (the foreign key's checks included), so that index is then dropped,
     `CONCURRENTLY` too.

Run again after a failure, it carries on: a step already done is skipped, and an index build that
failed (left `INVALID`) is dropped and built again.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_LOCK_TIMEOUT = "5s"


def upgrade() -> None:
    op.execute(f"SET LOCAL lock_timeout = '{_LOCK_TIMEOUT}'")
    op.execute("ALTER TABLE orders ADD COLUMN IF NOT EXISTS status varchar(16) NOT NULL DEFAULT 'placed'")
    op.execute("ALTER TABLE orders DROP CONSTRAINT IF EXISTS ck_orders_status")
    op.execute(
        "ALTER TABLE orders ADD CONSTRAINT ck_orders_status"
        " CHECK (status IN ('placed', 'cancelled')) NOT VALID"
    )
    with op.get_context().autocommit_block():
        op.execute("ALTER TABLE orders VALIDATE CONSTRAINT ck_orders_status")
        op.execute("DROP INDEX CONCURRENTLY IF EXISTS ix_orders_customer_id_created_at")
        op.execute(
            "CREATE INDEX CONCURRENTLY ix_orders_customer_id_created_at"
            " ON orders (customer_id, created_at, id)"
        )
        op.execute("DROP INDEX CONCURRENTLY IF EXISTS ix_orders_customer_id")


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.execute("CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_orders_customer_id ON orders (customer_id)")
        op.execute("DROP INDEX CONCURRENTLY IF EXISTS ix_orders_customer_id_created_at")
    op.execute(f"SET LOCAL lock_timeout = '{_LOCK_TIMEOUT}'")
    op.execute("ALTER TABLE orders DROP COLUMN status")
