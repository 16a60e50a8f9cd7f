"""The gate as a whole: stages in order, one commit per batch, publish after commit."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest

from charter.bootstrap import Platform, build
from charter.bus.base import TOPIC_READINGS
from charter.device import DeviceSigner, SimReading
from charter.domain.clock import FixedClock
from charter.domain.model import urn
from charter.domain.reasons import STAGES, Reason
from charter.settings import Settings
from charter.store.base import ReadingRow, StoredReading
from charter.store.sqlite import SqliteStore, SqliteTx
from tests.conftest import SampleCity, air_reading


def as_row(r: StoredReading) -> ReadingRow:
    return (r.device_id, r.project_id, r.category, r.observed_at, r.received_at, r.seq, r.body)


def committed_count(path: Path) -> int:
    """Readings visible to a separate reader: what is committed, nothing else."""
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT count(*) FROM readings").fetchone()[0])
    finally:
        conn.close()


class Published:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.batches: list[list[ReadingRow]] = []
        self.committed_at_publish: list[int] = []
        platform.bus.subscribe(TOPIC_READINGS, self)

    def __call__(self, topic: str, rows: Sequence[ReadingRow]) -> None:
        self.batches.append(list(rows))
        self.committed_at_publish.append(committed_count(self.platform.settings.database_path))

    @property
    def rows(self) -> list[ReadingRow]:
        return [r for b in self.batches for r in b]


def mixed(city: SampleCity) -> bytes:
    now = city.platform.clock.now()
    return city.envelope(
        city.air,
        [
            air_reading(now),  # 0 admitted
            SimReading("noise.level", now, {"db": 60}),  # 1 undeclared
            air_reading(now, pm25="x"),  # 2 wrong type
            air_reading(now + timedelta(hours=1)),  # 3 observed after sent_at
            air_reading(now, pm25=5000),  # 4 out of range
            SimReading("air.quality", now, {"pm25": 1.0}, {"pm25": "ppm"}),  # 5 wrong unit
            air_reading(now, pm25=3.0),  # 6 admitted
        ],
    )


# -- per reading ---------------------------------------------------------------------


def test_rejected_readings_leave_the_rest_of_the_envelope_admitted(
    platform: Platform, city: SampleCity
) -> None:
    [out] = platform.gate.ingest([mixed(city)])
    assert out.rejection is None
    assert out.admitted == 2
    assert [(i, r) for i, r, _ in out.reading_reasons] == [
        (1, "UNDECLARED_CATEGORY"),
        (2, "WRONG_TYPE"),
        (3, "FUTURE_TIMESTAMP"),
        (4, "OUT_OF_RANGE"),
        (5, "WRONG_UNIT"),
    ]
    assert sum(out.rejected.values()) == 5
    assert out.admitted + out.quarantined + out.dropped == 7
    assert [msgspec.json.decode(r.body)["pm25"] for r in platform.store.readings()] == [12.5, 3.0]


def test_the_acknowledgement_lists_each_refused_reading(
    platform: Platform, city: SampleCity
) -> None:
    [out] = platform.gate.ingest([mixed(city)])
    ack = out.to_json()
    assert ack["device"] == city.air.device_id and ack["seq"] == 1
    assert ack["admitted"] == 2
    assert ack["rejected"] == {
        "UNDECLARED_CATEGORY": 1,
        "WRONG_TYPE": 1,
        "FUTURE_TIMESTAMP": 1,
        "OUT_OF_RANGE": 1,
        "WRONG_UNIT": 1,
    }
    assert "reason" not in ack  # the envelope itself was fine
    readings = ack["readings"]
    assert isinstance(readings, list)
    assert [r["index"] for r in readings] == [1, 2, 3, 4, 5]
    assert readings[1]["detail"] == "field 'pm25' must be a number"


def test_each_envelope_in_a_batch_gets_its_own_outcome_in_order(
    platform: Platform, city: SampleCity
) -> None:
    ghost = DeviceSigner(urn("Device", "ghost"))
    bodies = [
        b"nonsense",
        city.envelope(city.air),
        city.envelope(ghost),
        city.envelope(city.untrusted),
        city.envelope(city.air),
    ]
    outs = platform.gate.ingest(bodies)
    assert [
        (o.rejection.stage, o.rejection.reason) if o.rejection else o.admitted for o in outs
    ] == [
        ("decode", Reason.MALFORMED_JSON),
        1,
        ("authenticate", Reason.NOT_REGISTERED),
        ("authorise", Reason.VENDOR_UNTRUSTED),
        1,
    ]
    assert platform.store.count_readings() == 2


def test_every_decision_names_a_known_stage(platform: Platform, city: SampleCity) -> None:
    outs = platform.gate.ingest(
        [
            b"{",
            city.envelope(DeviceSigner(urn("Device", "x"))),
            city.envelope(city.untrusted),
            mixed(city),
        ]
    )
    stages = {o.rejection.stage for o in outs if o.rejection}
    assert stages <= set(STAGES)
    assert stages == {"decode", "authenticate", "authorise"}


# -- commit, then publish ------------------------------------------------------------


def test_published_rows_equal_the_stored_rows(platform: Platform, city: SampleCity) -> None:
    published = Published(platform)
    now = platform.clock.now()
    count = SimReading("traffic.count", now, {"vehicles": 3})
    platform.gate.ingest([mixed(city), city.envelope(city.traffic, [count])])
    platform.gate.ingest([city.envelope(city.air, [air_reading(now, pm25=7.0, junk=1)] * 3)])
    stored = [as_row(r) for r in platform.store.readings()]
    assert len(stored) == 6
    assert published.rows == stored
    assert [len(b) for b in published.batches] == [3, 3]  # one message per batch


def test_rows_are_published_only_after_they_are_committed(
    platform: Platform, city: SampleCity
) -> None:
    published = Published(platform)
    platform.gate.ingest([city.envelope(city.air), city.envelope(city.air)])
    platform.gate.ingest([city.envelope(city.air)])
    assert published.committed_at_publish == [2, 3]


def test_nothing_is_published_when_nothing_is_admitted(
    platform: Platform, city: SampleCity
) -> None:
    published = Published(platform)
    now = platform.clock.now()
    platform.gate.ingest(
        [b"{}", city.envelope(city.untrusted), city.envelope(city.air, [air_reading(now, pm25=-1)])]
    )
    assert published.batches == []


def test_a_failing_subscriber_does_not_undo_the_commit(
    platform: Platform, city: SampleCity, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(topic: str, rows: Any) -> None:
        raise RuntimeError("subscriber down")

    platform.bus.subscribe(TOPIC_READINGS, broken)
    published = Published(platform)
    [out] = platform.gate.ingest([city.envelope(city.air)])
    assert out.admitted == 1
    assert platform.store.count_readings() == 1
    assert len(published.rows) == 1  # later subscribers still hear of it
    assert "bus handler failed" in caplog.text


class FailingStore:
    """The real store, except that a gate commit can be made to fail at its last write."""

    def __init__(self, inner: SqliteStore) -> None:
        self.inner = inner
        self.fail = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        with self.inner.transaction() as tx:
            yield _FailingTx(tx) if self.fail else tx


class _FailingTx:
    def __init__(self, tx: SqliteTx) -> None:
        self.tx = tx

    def __getattr__(self, name: str) -> Any:
        return getattr(self.tx, name)

    def advance_device_seqs(self, seqs: dict[str, int]) -> None:
        raise OSError("disk full")


def test_a_failed_commit_stores_publishes_and_acknowledges_nothing(
    tmp_path: Path, clock: FixedClock
) -> None:
    settings = Settings(data_dir=tmp_path / "flaky")
    store = FailingStore(SqliteStore(settings.database_path))
    platform = build(settings, store=store, clock=clock)  # type: ignore[arg-type]
    try:
        city = SampleCity(platform)
        published = Published(platform)
        env = city.envelope(city.air)
        rejected = city.envelope(city.untrusted)
        store.fail = True
        with pytest.raises(OSError, match="disk full"):
            platform.gate.ingest([env, rejected])
        assert platform.store.count_readings() == 0
        assert platform.store.count_quarantine() == 0
        assert platform.store.rejections_by_reason() == {}
        assert published.batches == []
        # Not acknowledged, so the device sends it again, and now it goes through.
        store.fail = False
        [out] = platform.gate.ingest([env])
        assert out.admitted == 1
        assert platform.store.count_readings() == 1
        assert len(published.rows) == 1
    finally:
        platform.close()


def test_a_batch_is_one_transaction(platform: Platform, city: SampleCity) -> None:
    # Sequence numbers checked within a batch are the ones committed with it.
    env = city.envelope(city.air, seq=3)
    outs = platform.gate.ingest([env, city.envelope(city.air, seq=2), env])
    assert [o.admitted for o in outs] == [1, 0, 0]
    assert platform.store.device_seq(city.air.device_id) == 3
