"""PostgreSQL connections lost under the store: what a worker or the API sees.

The pool does not test a connection on every use (a round trip per
transaction); it tests one that sat idle, and a connection that dies while in
steady use fails one transaction, after which the pool connects anew.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy.exc import DBAPIError

from charter.store import postgres
from charter.store.postgres import PostgresStore
from tests.services import PG_ADMIN_URL, pg_database


@pytest.fixture
def store() -> Iterator[PostgresStore]:
    with pg_database() as url:
        st = PostgresStore(url)
        yield st
        st.close()


def _kill_connections(store: PostgresStore) -> int:
    """Terminate every server connection to the store's database (as a restart would)."""
    name = store.engine.url.database
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        ).fetchall()
    return len(rows)


def test_a_connection_lost_while_idle_is_replaced_before_use(store: PostgresStore) -> None:
    assert store.count_readings() == 0
    assert _kill_connections(store) >= 1
    time.sleep(postgres.PING_AFTER_IDLE_S + 0.2)
    # The pooled connection is tested, found dead and replaced: no error.
    assert store.count_readings() == 0


def test_a_connection_lost_in_steady_use_fails_once_then_recovers(store: PostgresStore) -> None:
    assert store.count_readings() == 0
    assert _kill_connections(store) >= 1
    # Used again at once: not tested, so this transaction fails (a worker's
    # batch is then not acknowledged and is decided again) ...
    with pytest.raises(DBAPIError):
        store.count_readings()
    # ... and the pool has been invalidated: the next one connects anew.
    assert store.count_readings() == 0


def test_only_personal_readings_are_indexed_by_resident(store: PostgresStore) -> None:
    with store.engine.connect() as conn:
        definition = conn.exec_driver_sql(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'readings_by_subject'"
        ).scalar_one()
    assert "WHERE (subject IS NOT NULL)" in definition
