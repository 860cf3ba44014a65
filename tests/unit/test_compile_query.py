"""`compile_query`: a SQLAlchemy statement becomes asyncpg's SQL text and the order of its values."""

from __future__ import annotations

from sqlalchemy import bindparam, select, update

from app.store.postgres import compile_query
from app.store.tables import orders


def test_named_values_are_given_in_the_order_of_their_placeholders() -> None:
    query = compile_query(
        update(orders)
        .where(orders.c.id == bindparam("id"))
        .values(total_cents=bindparam("total"))
        .returning(orders.c.id)
    )
    assert query.sql.startswith("UPDATE orders SET total_cents=$1::BIGINT WHERE orders.id = $2::UUID")
    assert query.args({"id": "the id", "total": 5}) == [5, "the id"]
    assert query.summary == "UPDATE orders"


def test_a_value_written_in_the_statement_is_kept_with_the_query() -> None:
    query = compile_query(
        select(orders).where(
            orders.c.customer_id == bindparam("customer_id"), orders.c.checkout_flow == "new"
        )
    )
    assert "FROM orders" in query.sql
    assert query.args({"customer_id": "c"}) == ["c", "new"]
    assert query.summary == "SELECT orders"
