"""Persistence: one Store interface, SQLite by default."""
