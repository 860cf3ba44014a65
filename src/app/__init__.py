"""Reference deployable FastAPI service."""
