"""Fixtures of the store tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty database of each kind, for migrations to run on."""
    if request.param == "sqlite":
        eng = create_engine(f"sqlite:///{tmp_path / 'store.db'}")
        yield eng
        eng.dispose()
        return
    from charter.store.postgres import engine_url
    from tests.services import pg_database

    with pg_database() as url:
        eng = create_engine(engine_url(url))
        yield eng
        eng.dispose()
