"""Logs, metrics, traces and request IDs: pure ASGI, one pass per request."""
