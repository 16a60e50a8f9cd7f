"""Upserts: one statement, so two writers of the same new row both succeed (PostgreSQL)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from charter.domain.model import TrustStatus, Vendor
from charter.sim.city import vendors
from charter.store.postgres import PostgresStore
from charter.store.sql import SqlStore
from charter.store.sqlite import SqliteStore
from tests.services import PG_ADMIN_URL, pg_database


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStore]:
    if request.param == "sqlite":
        st: SqlStore = SqliteStore(tmp_path / "store.db")
        yield st
        st.close()
        return
    with pg_database() as url:
        st = PostgresStore(url)
        yield st
        st.close()


def _vendor(trust: TrustStatus) -> Vendor:
    return vendors()[0].model_copy(update={"trust": trust})


def test_an_upsert_inserts_then_updates_the_same_row(store: SqlStore) -> None:
    with store.transaction() as tx:
        tx.put_vendor(_vendor(TrustStatus.TRUSTED), 1)
    with store.transaction() as tx:
        tx.put_vendor(_vendor(TrustStatus.UNTRUSTED), 2)
    [stored] = store.list_vendors()
    assert stored.trust is TrustStatus.UNTRUSTED


def _waiting_on_a_lock(database: str) -> bool:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        row = admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'",
            (database,),
        ).fetchone()
    return bool(row and row[0])


def test_two_concurrent_upserts_of_a_new_row_both_succeed_on_postgres() -> None:
    """Two connections put the same new vendor; the second waits for the first.

    With update-then-insert both found no row under READ COMMITTED, both inserted,
    and the second failed on the primary key once the first committed.
    """
    with pg_database() as url:
        store = PostgresStore(url)
        try:
            first = store.transaction()
            tx = first.__enter__()
            tx.put_vendor(_vendor(TrustStatus.TRUSTED), 1)  # inserted, not yet committed
            errors: list[BaseException] = []

            def second() -> None:
                try:
                    with store.transaction() as other:
                        other.put_vendor(_vendor(TrustStatus.UNTRUSTED), 2)
                except BaseException as exc:
                    errors.append(exc)

            thread = threading.Thread(target=second)
            thread.start()
            # The second writer is blocked on the first one's uncommitted row.
            while thread.is_alive() and not _waiting_on_a_lock(str(store.engine.url.database)):
                thread.join(0.01)
            first.__exit__(None, None, None)  # commit
            thread.join()
            assert errors == []
            [stored] = store.list_vendors()
            assert stored.trust is TrustStatus.UNTRUSTED  # the later writer's row
        finally:
            store.close()
