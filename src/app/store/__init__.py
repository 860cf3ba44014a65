"""Postgres (the pool, the tables, queries per table) and Redis (idempotency records)."""
