"""The whole Store/Tx protocol, the same tests on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from charter.device import DeviceSigner
from charter.domain.model import Device, Location, ProjectStatus, urn
from charter.sim.city import AIR, TRAFFIC, TRUSTED, projects, vendors
from charter.store.base import (
    DecisionRecord,
    LedgerEntry,
    QuarantineItem,
    SequenceConflict,
    Store,
    StoredCheckpoint,
    TokenRecord,
)
from charter.store.sql import SqlStore
from charter.store.sqlite import SqliteStore
from tests.services import pg_database

DAY = 24 * 3600 * 1000
T0 = 1_795_000_000_000  # 2026-11-18, ms


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with pg_database() as url:
        yield url


def _empty(store: SqlStore) -> None:
    with store.engine.begin() as conn:
        names = [
            r[0]
            for r in conn.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            )
            if r[0] != "alembic_version" and not r[0].startswith("readings_p")
        ]
        conn.execute(text(f"TRUNCATE {', '.join(names)} RESTART IDENTITY"))


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStore]:
    if request.param == "sqlite":
        st: SqlStore = SqliteStore(tmp_path / "store.db")
    else:
        from charter.store.postgres import PostgresStore

        st = PostgresStore(request.getfixturevalue("pg_url"))
        _empty(st)
    yield st
    st.close()


def device(name: str, project: str = AIR) -> Device:
    return Device(
        id=urn("Device", name),
        vendor_id=TRUSTED,
        project_id=project,
        modality="test",
        location=Location(lat=52.36, lon=4.9),
        categories=["air.quality"],
        public_key=DeviceSigner(urn("Device", name)).public_key_b64,
    )


def seeded(store: Store) -> None:
    with store.transaction() as tx:
        for v in vendors():
            tx.put_vendor(v, T0)
        for p, _ in projects():
            tx.put_project(p, T0)
        tx.put_device(device("a"), T0)
        tx.put_device(device("b"), T0)
        tx.put_device(device("c", TRAFFIC), T0)


def test_the_register_is_written_read_and_updated(store: Store) -> None:
    seeded(store)
    assert [v.id for v in store.list_vendors()] == sorted(v.id for v in vendors())
    assert store.get_vendor(TRUSTED) == next(v for v in vendors() if v.id == TRUSTED)
    assert store.get_vendor("urn:ngsi-ld:Vendor:nobody") is None
    air = store.get_project(AIR)
    assert air is not None and air.id == AIR
    assert len(store.list_projects()) == len(projects())
    with store.transaction() as tx:
        tx.put_project(air.model_copy(update={"status": ProjectStatus.LIVE}), T0 + 1)
    again = store.get_project(AIR)
    assert again is not None and again.status is ProjectStatus.LIVE
    assert len(store.list_projects()) == len(projects())
    assert [d.id for d in store.list_devices()] == [urn("Device", n) for n in "abc"]
    assert [d.id for d in store.list_devices(AIR)] == [urn("Device", n) for n in "ab"]
    c = store.get_device(urn("Device", "c"))
    assert c is not None and (c.id, c.project_id) == (urn("Device", "c"), TRAFFIC)
    assert store.get_device(urn("Device", "zzz")) is None


def test_device_sequence_numbers_only_move_forward(store: Store) -> None:
    seeded(store)
    a, b = urn("Device", "a"), urn("Device", "b")
    assert store.device_seq(a) == -1
    assert store.device_seq(urn("Device", "zzz")) == -1
    with store.transaction() as tx:
        tx.advance_device_seqs({a: 5, b: 2})
    assert (store.device_seq(a), store.device_seq(b)) == (5, 2)
    with store.transaction() as tx:
        tx.advance_device_seqs({b: 9})
    assert (store.device_seq(a), store.device_seq(b)) == (5, 9)


def test_a_writer_with_a_stale_sequence_is_told_on_postgresql(store: Store) -> None:
    seeded(store)
    a = urn("Device", "a")
    with store.transaction() as tx:
        tx.advance_device_seqs({a: 5})
    if isinstance(store, SqliteStore):
        # One writer at a time: the gate's own check suffices; the stale update is a no-op.
        with store.transaction() as tx:
            tx.advance_device_seqs({a: 5})
        assert store.device_seq(a) == 5
        return
    with pytest.raises(SequenceConflict), store.transaction() as tx:
        tx.insert_readings([(a, AIR, "air.quality", T0, T0, 5, "{}")])
        tx.advance_device_seqs({a: 5})
    assert store.count_readings() == 0  # the whole transaction rolled back


def rows(n: int, dev: str = "a", start: int = T0, step: int = 1000) -> list[tuple]:
    return [
        (
            urn("Device", dev),
            AIR,
            "air.quality",
            start + i * step,
            start + i * step + 1,
            i,
            f'{{"pm25": {i}}}',
        )
        for i in range(n)
    ]


def test_readings_are_stored_in_order_and_filtered(store: Store) -> None:
    seeded(store)
    with store.transaction() as tx:
        tx.insert_readings(rows(5, "a"))
        tx.insert_readings(rows(3, "b", start=T0 + 10_000))
        tx.insert_readings([(urn("Device", "c"), TRAFFIC, "traffic.count", T0, T0, 1, '{"n": 3}')])
        tx.insert_readings([])
    assert store.count_readings() == 9
    got = store.readings()
    assert [r.id for r in got] == sorted(r.id for r in got)
    first = got[0]
    assert (first.device_id, first.project_id, first.category) == (
        urn("Device", "a"),
        AIR,
        "air.quality",
    )
    assert (first.observed_at, first.received_at, first.seq, first.body) == (
        T0,
        T0 + 1,
        0,
        '{"pm25": 0}',
    )
    assert len(store.readings(device_id=urn("Device", "b"))) == 3
    assert len(store.readings(project_id=AIR)) == 8
    assert len(store.readings(project_id=TRAFFIC)) == 1
    assert len(store.readings(since=T0 + 10_000)) == 3
    assert len(store.readings(until=T0 + 2000)) == 3  # a0, a1 and c
    page = store.readings(limit=4)
    assert len(page) == 4
    rest = store.readings(after_id=page[-1].id)
    assert [r.id for r in page + rest] == [r.id for r in got]


def test_readings_of_many_days_are_kept_and_found(store: Store) -> None:
    seeded(store)
    with store.transaction() as tx:
        tx.insert_readings(rows(10, "a", start=T0, step=DAY // 2))
    assert store.count_readings() == 10
    assert len(store.readings(since=T0 + 2 * DAY, until=T0 + 4 * DAY)) == 4


def test_a_failed_transaction_stores_nothing(store: Store) -> None:
    seeded(store)
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.insert_readings(rows(3))
        tx.insert_decisions([DecisionRecord(T0, None, None, "decode", "malformed_json", 1, "d")])
        raise RuntimeError("boom")
    assert store.count_readings() == 0
    assert store.rejections_by_reason() == {}


def test_quarantine_holds_items_and_changes_their_status(store: Store) -> None:
    item = QuarantineItem(
        T0, "urn:ngsi-ld:Device:a", 4, "envelope", "purpose", "r", "why", b"\x00{"
    )
    with store.transaction() as tx:
        tx.insert_quarantine(
            [item, QuarantineItem(T0, None, None, "reading", "validate", "s", "", b"x")]
        )
    held = store.quarantine()
    assert len(held) == 2 and store.count_quarantine() == 2
    first = held[0]
    assert first.id > 0 and first.payload == b"\x00{" and first.status == "held"
    assert (first.device_id, first.seq, first.kind, first.stage) == (
        item.device_id,
        4,
        "envelope",
        "purpose",
    )
    with store.transaction() as tx:
        tx.set_quarantine_status(first.id, "replayed", "admitted", "operator")
    assert store.count_quarantine() == 1
    assert store.count_quarantine("replayed") == 1
    again = store.get_quarantine(first.id)
    assert again is not None and again.status == "replayed" and again.reason == "admitted"
    assert store.get_quarantine(99_999) is None
    assert [q.id for q in store.quarantine(status="replayed", limit=1)] == [first.id]


def test_decisions_are_counted_by_reason(store: Store) -> None:
    with store.transaction() as tx:
        tx.insert_decisions(
            [
                DecisionRecord(T0, "d", 1, "authenticate", "bad_signature", 1, "dropped"),
                DecisionRecord(T0, "d", 2, "validate", "out_of_range", 3, "quarantined"),
                DecisionRecord(T0, None, None, "authenticate", "bad_signature", 2, "dropped"),
            ]
        )
        tx.insert_decisions([])
    assert store.rejections_by_reason() == {"bad_signature": 3, "out_of_range": 3}


def test_the_ledger_keeps_entries_nodes_and_checkpoints(store: Store) -> None:
    assert store.ledger_size() == 0 and store.latest_checkpoint() is None
    with store.transaction() as tx:
        for i in range(3):
            tx.append_ledger(
                LedgerEntry(i, T0 + i, "kind", bytes([i]) * 3),
                [(0, i, bytes([i]) * 32)] + ([(1, 0, b"\x07" * 32)] if i == 1 else []),
            )
        tx.add_checkpoint(StoredCheckpoint(2, T0, b"\x01" * 32, "note 2\n"))
        tx.add_checkpoint(StoredCheckpoint(3, T0 + 5, b"\x02" * 32, "note 3\n"))
    assert store.ledger_size() == 3
    assert store.ledger_node(1, 0) == b"\x07" * 32
    with pytest.raises(KeyError):
        store.ledger_node(5, 0)
    assert [e.idx for e in store.ledger_entries(1, 3)] == [1, 2]
    assert store.ledger_entries(0, 1)[0] == LedgerEntry(0, T0, "kind", b"\x00\x00\x00")
    assert [e.idx for e in store.iter_ledger_entries()] == [0, 1, 2]
    assert [c.size for c in store.ledger_checkpoints()] == [2, 3]
    assert store.latest_checkpoint() == StoredCheckpoint(3, T0 + 5, b"\x02" * 32, "note 3\n")


def test_tokens_are_kept_by_digest(store: Store) -> None:
    with store.transaction() as tx:
        tx.add_token(TokenRecord("ab" * 32, "alice", "resident", T0, False, "urn:x"))
        tx.add_token(TokenRecord("cd" * 32, "ops", "operator", T0, True))
    assert store.get_token("ab" * 32) == TokenRecord(
        "ab" * 32, "alice", "resident", T0, False, "urn:x"
    )
    got = store.get_token("cd" * 32)
    assert got is not None and got.revoked and got.subject is None
    assert store.get_token("ef" * 32) is None


def test_postgresql_partitions_readings_by_day_and_retention_drops_whole_days(
    pg_url: str,
) -> None:
    from charter.store.postgres import PostgresStore, partition_name

    st = PostgresStore(pg_url)
    try:
        _empty(st)
        for name in st.partitions():
            with st.engine.begin() as conn:
                conn.exec_driver_sql(f"DROP TABLE {name}")
        st._partitions.clear()
        day0 = T0 - T0 % DAY
        with st.transaction() as tx:
            tx.insert_readings(rows(6, "a", start=day0, step=DAY // 2))  # days 0, 0, 1, 1, 2, 2
        assert sorted(st.partitions()) == [partition_name(day0 + i * DAY) for i in range(3)]
        # A cutoff inside day 2: days 0 and 1 end before it and go; day 2 stays whole.
        dropped = st.drop_readings_before(day0 + 2 * DAY + DAY // 4)
        assert dropped == [partition_name(day0), partition_name(day0 + DAY)]
        assert st.count_readings() == 2
        assert sorted(st.partitions()) == [partition_name(day0 + 2 * DAY)]
        # Readings of a dropped day can arrive again: the partition comes back.
        with st.transaction() as tx:
            tx.insert_readings(rows(1, "a", start=day0))
        assert st.count_readings() == 3
    finally:
        st.close()


def test_postgresql_store_is_chosen_by_url(pg_url: str, tmp_path: Path) -> None:
    from charter.bootstrap import open_store
    from charter.settings import Settings
    from charter.store.postgres import PostgresStore

    st = open_store(Settings(data_dir=tmp_path, database_url=pg_url))
    try:
        assert isinstance(st, PostgresStore)
    finally:
        st.close()


def test_asking_whether_an_envelope_was_rejected_uses_an_index(store: SqlStore) -> None:
    # Redelivered copies and stragglers ask this; a full scan of every rejection
    # would grow with a flood of them. Sequential scans are turned off on
    # PostgreSQL so that its planner shows whether the index can serve.
    sqlite = store.engine.dialect.name == "sqlite"
    query = "SELECT id FROM decisions WHERE device_id = 'd' AND seq = 1 LIMIT 1"
    with store.engine.connect() as conn:
        if not sqlite:
            conn.exec_driver_sql("SET enable_seqscan = off")
        explain = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
        plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql(explain + query))
    assert "decisions_by_envelope" in plan, plan
