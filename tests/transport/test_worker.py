"""Gate workers on a real JetStream stream, committing to a real PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from charter.bootstrap import Platform
from charter.bus.base import TOPIC_READINGS
from charter.bus.nats import DURABLE, NatsBus, NatsLink, Subjects, publish_envelopes
from charter.device import DeviceSigner
from charter.transport.mqtt import wait_until
from charter.transport.worker import Worker
from tests.conftest import SampleCity, air_reading
from tests.services import need, own_nats, port_open, unique
from tests.transport.conftest import air_devices


@pytest.fixture
def link() -> Iterator[NatsLink]:
    need(port_open(4222), "NATS is not running on 127.0.0.1:4222")
    ln = NatsLink("nats://127.0.0.1:4222")
    yield ln
    ln.close()


def envelope(signer: DeviceSigner, seq: int, n: int = 1) -> bytes:
    now = datetime.now(UTC)
    return signer.envelope(seq, now, [air_reading(now, pm25=float(i)) for i in range(n)])


def test_a_worker_commits_what_is_on_the_stream_and_announces_it(
    pg_platform: Platform, pg_city: SampleCity, link: NatsLink
) -> None:
    subjects = Subjects(unique("t"))
    events: list[object] = []
    admitted: list[object] = []
    bus = NatsBus(link, subjects)
    bus.subscribe(TOPIC_READINGS, lambda _t, m: admitted.append(m))
    link.call(link.nc.subscribe(subjects.committed, cb=_appender(events)))
    pg_platform.bus = bus
    pg_platform.gate.bus = bus
    worker = Worker(pg_platform, link, subjects, batch=16, ack_wait_s=5)
    worker.start()
    bodies = [envelope(pg_city.air, seq, 3) for seq in range(1, 11)]
    # The second copy of envelope 1 is dropped by the stream (same message id).
    dups = publish_envelopes(link, subjects, [*bodies, bodies[0]])
    assert dups == [False] * 10 + [True]
    handled = 0
    while handled < 10:
        handled += worker.step(timeout=1.0)
    assert pg_platform.store.count_readings() == 30
    assert pg_platform.store.rejections_by_reason() == {}
    assert wait_until(lambda: len(events) >= 1 and len(admitted) >= 1, 5)
    assert worker.stats.to_json()["readings"] == 30
    assert set(worker.stats.stages) >= {"decode", "authenticate"}
    assert worker.step(timeout=0.2) == 0  # nothing left


def _appender(acc: list[object]):  # type: ignore[no-untyped-def]
    async def append(msg: object) -> None:
        acc.append(msg)

    return append


def _worker_process(tmp: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with (tmp / f"worker-{time.monotonic_ns()}.log").open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "charter.cli", "worker"],
            env={**os.environ, **env},
            cwd=tmp,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


@pytest.mark.slow
def test_kill_a_worker_and_restart_the_broker_mid_stream_nothing_lost_nothing_twice(
    tmp_path: Path, pg_platform: Platform, pg_city: SampleCity, pg_url: str
) -> None:
    signers = air_devices(pg_platform, 40)
    per_device = 15
    expected = len(signers) * per_device
    with own_nats(tmp_path / "nats") as nats_server:
        url = f"nats://127.0.0.1:{nats_server.port}"
        subjects = Subjects(unique("crash"))
        env = {
            "CHARTER_DATA_DIR": str(tmp_path / "data"),
            "CHARTER_DATABASE_URL": pg_url,
            "CHARTER_BUS_URL": url,
            "CHARTER_BUS_PREFIX": subjects.prefix,
            "CHARTER_WORKER_BATCH": "8",
            "CHARTER_WORKER_ACK_WAIT_S": "2",
        }
        workers = [_worker_process(tmp_path, env) for _ in range(2)]
        link = NatsLink(url)
        try:
            from charter.bus.nats import ensure_stream

            link.call(ensure_stream(link.js, subjects))
            acked = 0
            killed = restarted = False
            for seq in range(1, per_device + 1):
                bodies = [envelope(s, seq) for s in signers]
                while True:  # a publisher retries until the stream acknowledged
                    try:
                        publish_envelopes(link, subjects, bodies, timeout=2)
                        break
                    except Exception:
                        time.sleep(0.2)
                acked += len(bodies)
                if seq == 3:  # the workers are up and storing
                    assert wait_until(lambda: pg_platform.store.count_readings() > 0, 60)
                if seq == 5:
                    workers[0].send_signal(signal.SIGKILL)  # kill -9, mid-stream
                    workers[0].wait()
                    killed = True
                if seq == 9:
                    nats_server.restart()
                    restarted = True
                time.sleep(0.05)
            assert killed and restarted and acked == expected
            workers.append(_worker_process(tmp_path, env))  # a replacement comes up
            assert wait_until(
                lambda: pg_platform.store.count_readings() >= expected, 90, step=0.2
            ), f"{pg_platform.store.count_readings()} of {expected} stored"
            time.sleep(3)  # anything stored twice would show up now, after ack_wait
        finally:
            for w in workers:
                if w.poll() is None:
                    w.terminate()
                    w.wait(timeout=20)
            link.close()
    store = pg_platform.store
    assert store.count_readings() == expected
    with store.engine.connect() as conn:  # type: ignore[attr-defined]
        twice = conn.execute(
            text(
                "SELECT device_id, seq, count(*) FROM readings GROUP BY device_id, seq"
                " HAVING count(*) > 1"
            )
        ).all()
    assert twice == []
    assert store.rejections_by_reason() == {}
    for s in signers:
        assert store.device_seq(s.device_id) == per_device


def test_the_worker_command_needs_a_bus(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "charter.cli", "worker", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if k != "CHARTER_BUS_URL"},
    )
    assert done.returncode == 2
    assert "needs a bus" in done.stdout


def test_a_large_batch_of_admitted_readings_is_split_under_the_payload_limit() -> None:
    rows = [("urn:ngsi-ld:Device:x", "p", "air.quality", i, i, i, "{}" * 40) for i in range(5000)]
    parts = NatsBus._payloads(rows, 64 * 1024)
    assert len(parts) > 1 and all(len(p) <= 64 * 1024 for p in parts)
    import msgspec

    assert [tuple(r) for p in parts for r in msgspec.json.decode(p)] == rows


def test_the_gateway_acks_after_the_workers_commit_and_a_duplicate_at_once(
    pg_platform: Platform, pg_city: SampleCity, link: NatsLink
) -> None:
    from charter.transport.mqtt import Delivery, JetStreamSink

    subjects = Subjects(unique("gw"))
    sink_link = NatsLink("nats://127.0.0.1:4222")
    sink = JetStreamSink(sink_link, subjects)
    acked: list[int] = []
    try:
        body = envelope(pg_city.air, 1)
        sink.handle([Delivery(7, 1, body, False, 1)], lambda ds: acked.extend(d.mid for d in ds))
        assert acked == []  # on the stream, not yet committed
        worker = Worker(pg_platform, link, subjects, batch=8, ack_wait_s=5)
        worker.start()
        assert worker.step(timeout=2.0) == 1
        assert wait_until(lambda: acked == [7], 5)  # the committed event releases the PUBACK
        # The broker hands the same message again (the gateway died before its PUBACK):
        sink.handle([Delivery(9, 1, body, True, 2)], lambda ds: acked.extend(d.mid for d in ds))
        assert acked == [7, 9]  # a duplicate on the stream: acknowledged at once
        assert worker.step(timeout=0.3) == 0
        assert pg_platform.store.count_readings() == 1
    finally:
        sink.close()


def test_a_strangers_forgery_does_not_silence_the_genuine_envelope_on_the_stream(
    pg_platform: Platform, pg_city: SampleCity, link: NatsLink
) -> None:
    """A forged envelope naming (air, 1) is refused; the genuine (air, 1), overtaken
    by (air, 2), is then still stored: the refusal is keyed to nothing."""
    subjects = Subjects(unique("t"))
    worker = Worker(pg_platform, link, subjects, batch=4, ack_wait_s=5)
    worker.start()
    forger = DeviceSigner(pg_city.air.device_id)  # the name, not the key
    steps = [[envelope(forger, 1)], [envelope(pg_city.air, 2)], [envelope(pg_city.air, 1)]]
    for bodies in steps:
        assert publish_envelopes(link, subjects, bodies) == [False]
        while worker.step(timeout=1.0) == 0:
            pass
    assert sorted(r.seq for r in pg_platform.store.readings()) == [1, 2]
    assert pg_platform.store.rejections_by_reason() == {"BAD_SIGNATURE": 1}
    assert worker.stats.late == 1


def test_a_poison_envelope_holds_back_nothing_and_is_never_dropped(
    pg_platform: Platform, pg_city: SampleCity, link: NatsLink
) -> None:
    """An envelope the gate itself fails on (a bug, not a refusal) is found and held;
    the rest of its batch is committed, and it is decided once the fault is gone."""
    subjects = Subjects(unique("t"))
    bodies = [envelope(pg_city.air, seq, 2) for seq in range(1, 9)]
    poison = bodies[3]
    broken = {"on": True}

    def fault(batch: object) -> None:
        if broken["on"] and any(it.raw == poison for it in batch.items):  # type: ignore[attr-defined]
            raise RuntimeError("a gate bug")

    pg_platform.gate.stages.insert(0, fault)
    worker = Worker(pg_platform, link, subjects, batch=16, small_batch=16, ack_wait_s=30)
    worker.start()
    publish_envelopes(link, subjects, bodies)
    deadline = time.monotonic() + 10
    while pg_platform.store.count_readings() < 14 and time.monotonic() < deadline:
        worker.step(timeout=0.5)
    # Seven of eight are committed; the poison one was held, not acked, not lost.
    assert pg_platform.store.count_readings() == 14
    assert worker.stats.poisoned >= 1
    info = link.call(link.js.consumer_info(subjects.stream, DURABLE))
    assert info.num_ack_pending + info.num_pending == 1
    broken["on"] = False  # the fault is fixed: the held envelope comes back and is decided
    deadline = time.monotonic() + 15
    while pg_platform.store.count_readings() < 16 and time.monotonic() < deadline:
        worker.step(timeout=0.5)
    assert pg_platform.store.count_readings() == 16
    assert pg_platform.store.rejections_by_reason() == {}
