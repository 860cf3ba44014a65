"""Table definitions: the single description of the schema that migrations are written against."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB

# Stable constraint names, so migrations can drop and rename them predictably.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

customers = Table(
    "customers",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("email", String(320), nullable=False),
    # One per person: the email NFKC-normalised and case-folded (app.domain.customers.email_key).
    Column("email_key", String(320), nullable=False),
    Column("name", String(200), nullable=False),
    Column("beta_group", Boolean, nullable=False, server_default="false"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
Index("uq_customers_email_key", customers.c.email_key, unique=True)

orders = Table(
    "orders",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("customer_id", Uuid, ForeignKey("customers.id", ondelete="RESTRICT"), nullable=False),
    Column("checkout_flow", String(16), nullable=False),
    Column("total_cents", BigInteger, nullable=False),
    # Line items are immutable once placed and always read with their order: one row, one read.
    Column("items", JSONB, nullable=False),
    # The database, not Redis, guarantees that a retried request never places a second order.
    Column("idempotency_key", String(200), nullable=True, unique=True),
    Column("request_fingerprint", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # The one column that changes after an order is placed (app.domain.orders: OrderStatus).
    Column("status", String(16), nullable=False, server_default="placed"),
    CheckConstraint("checkout_flow IN ('legacy', 'new')", name="checkout_flow"),
    CheckConstraint("total_cents >= 0", name="total_cents_non_negative"),
    CheckConstraint("status IN ('placed', 'cancelled')", name="status"),
)
# A customer's orders, newest first, a page at a time (keyset on created_at, id); its leading column
# also serves the foreign key.
Index("ix_orders_customer_id_created_at", orders.c.customer_id, orders.c.created_at, orders.c.id)
