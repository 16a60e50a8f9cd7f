"""The rights tables and store methods on PostgreSQL: portable SQL, the same answers.

Uses a database of its own (dropped afterwards). Skips when PostgreSQL is not
there, except under CI=true, where a missing server is a failure.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

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
from tests.services import pg_database


@pytest.fixture
def pg() -> Iterator[PostgresStore]:
    with pg_database() as url:  # a database of its own, dropped afterwards
        store = PostgresStore(url)  # migrates to the head
        try:
            yield store
        finally:
            store.close()


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
