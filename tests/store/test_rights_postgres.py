"""The rights tables and store methods on PostgreSQL: portable SQL, the same answers.

Uses a database of its own (dropped afterwards). Skips when PostgreSQL or its
driver is not there, except under CI=true, where a missing server is a failure.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from charter.store.postgres import PostgresStore
from charter.store.rights import (
    AccessLogRecord,
    AccessRequestRecord,
    ConsentRecord,
    LinkRecord,
    ReceiptRecord,
    ResidentRecord,
    RetentionRun,
)

URL = os.environ.get("CHARTER_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432")


def _require_postgres() -> None:
    pytest.importorskip("psycopg", reason="the PostgreSQL driver is not installed")
    try:
        eng = create_engine(f"{URL}/postgres")
        with eng.connect():
            pass
        eng.dispose()
    except Exception as e:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required under CI but not reachable: {type(e).__name__}")
        pytest.skip("PostgreSQL is not reachable at 127.0.0.1:5432")


@pytest.fixture
def pg() -> Iterator[PostgresStore]:
    _require_postgres()
    name = f"charter_test_{uuid.uuid4().hex}"
    admin = create_engine(f"{URL}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    store = PostgresStore(f"{URL}/{name}")  # migrates to the head
    try:
        yield store
    finally:
        store.close()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_the_rights_store_works_on_postgresql(pg: PostgresStore) -> None:
    rid = "urn:ngsi-ld:Person:pg1"
    assert pg.read_rights_version() == 0
    with pg.transaction() as tx:
        tx.add_resident(ResidentRecord(rid, 1))
        tx.add_link(LinkRecord("d" * 64, 1, rid, "fob", 1))
        assert tx.add_link_if_absent(LinkRecord("d" * 64, 2, rid, "fob", 2)) is False
        tx.add_consent(ConsentRecord("c1", rid, "cat.x", "p", ("P1",), 1, None, None, "api"))
        tx.add_consent(ConsentRecord("c2", rid, "cat.x", "p", ("P1",), 1, None, 5, "api"))
        tx.add_receipt(ReceiptRecord("r1", rid, "c1", "granted", 1, "a.b.c"))
        tx.put_access_request(
            AccessRequestRecord("q1", "app", "P1", ("cat.x",), "p", "w", "pending", 1)
        )
        tx.add_access_log([AccessLogRecord(2, rid, "app", "q1", "p", "cat.x", 3)])
        tx.add_retention_run(RetentionRun(3, 4, {"readings": {}}))
        tx.insert_personal_readings([(("dev", "P1", "cat.x", 1, 2, 3, '{"enc":"v1.x"}'), rid)])
        assert tx.rights_version() == 0
        assert tx.bump_rights_version() == 1
    assert pg.read_rights_version() == 1
    assert pg.link_owner("d" * 64) == rid
    assert [c.id for c in pg.consents(rid, active_only=True)] == ["c1"]
    assert pg.consent_counts_by_category() == {"cat.x": {"given": 1, "withdrawn": 1}}
    assert pg.access_requests_by_purpose() == {"p": {"pending": 1}}
    assert pg.retention_runs()[0].removed == 4
    [row] = pg.personal_readings(subject=rid)
    assert row[8] == rid and json.loads(row[7]) == {"enc": "v1.x"}
    with pg.transaction() as tx:
        removed = tx.erase_subject(rid)
        tx.mark_erased(rid, 9)
        assert tx.delete_readings_before(["dev"], "cat.x", 100) == 0
    assert removed == {
        "readings": 1,
        "links": 1,
        "consents": 2,
        "receipts": 1,
        "access_log": 1,
        "tokens": 0,
    }
    assert pg.erased_residents() == [rid]
