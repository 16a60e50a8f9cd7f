"""Alembic migrations; `charter.store.migrate.upgrade` runs them."""
