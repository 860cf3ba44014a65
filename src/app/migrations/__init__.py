"""Alembic migrations, shipped in the package: `python -m app migrate` works wherever it is installed."""
