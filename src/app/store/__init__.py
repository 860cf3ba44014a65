"""Postgres (engine, tables, repositories) and Redis (client, cache, idempotency)."""
