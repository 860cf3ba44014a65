"""Customers, orders and checkout flows: plain Python, no HTTP, no SQL text."""
