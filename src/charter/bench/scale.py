"""`charter bench scale`: MQTT publish → gateway → JetStream → gate workers → PostgreSQL.

Readings per second end to end, from the first MQTT publish to the last
commit, with 1 and with 2 worker processes; then, at half the 2-worker rate,
the latency of each envelope from its publish to its commit (the worker's
"committed" event after the commit, so the figure is an upper bound). In the
same run the raw limits: PostgreSQL COPY of the same rows in the same batch
size, and the brokers' own publish rates (MQTT QoS 1 to a topic nobody
processes; JetStream publish with ack). Everything runs on this machine: the
brokers, PostgreSQL, the gateway, the workers and the load generator.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import psycopg

from charter.bench import brokers
from charter.bench.seed import enrol
from charter.bootstrap import build
from charter.bus.nats import NatsLink, Subjects, ensure_stream, message_id, publish_envelopes
from charter.device import DeviceSigner, SimReading
from charter.domain.model import Actor, urn
from charter.settings import Settings
from charter.sim.city import AIR, register_projects
from charter.store.postgres import COPY_READINGS, COPY_TYPES, PostgresStore
from charter.transport.mqtt import connect, make_client, up_topic

BENCH = Actor(name="bench", role="operator")
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
_decode = msgspec.json.Decoder().decode
Say = Callable[[str], None]


@dataclass
class ScaleResult:
    envelope_size: int
    envelopes: int
    readings_per_s: dict[int, float] = field(default_factory=dict)  # workers -> rate
    latencies_ms: list[float] = field(default_factory=list)
    half_load_readings_per_s: float = 0.0
    half_load_offered_per_s: float = 0.0
    raw_copy_per_s: float = 0.0
    raw_mqtt_per_s: float = 0.0
    raw_jetstream_per_s: float = 0.0
    time_split: dict[str, float] = field(default_factory=dict)  # where the workers' time went
    # Where each envelope's publish → commit time went, hop by hop (ms, at half load).
    hops_ms: dict[str, list[float]] = field(default_factory=dict)
    bytes_per_reading: float = 0.0  # PostgreSQL, table and index, as stored

    def to_json(self) -> dict[str, Any]:
        lat = sorted(self.latencies_ms)

        def pct(p: float) -> float:
            return round(lat[min(len(lat) - 1, int(p * len(lat)))], 1) if lat else 0.0

        return {
            "readings_per_s_1_worker": round(self.readings_per_s.get(1, 0.0)),
            "readings_per_s_2_workers": round(self.readings_per_s.get(2, 0.0)),
            "raw_copy_per_s": round(self.raw_copy_per_s),
            "p99_ms": pct(0.99),
            "p50_ms": pct(0.50) if lat else 0.0,
            "mean_ms": round(statistics.fmean(lat), 1) if lat else 0.0,
            "max_ms": round(lat[-1], 1) if lat else 0.0,
            "half_load_readings_per_s": round(self.half_load_readings_per_s),
            "half_load_offered_per_s": round(self.half_load_offered_per_s),
            "raw_mqtt_publish_per_s": round(self.raw_mqtt_per_s),
            "raw_jetstream_publish_per_s": round(self.raw_jetstream_per_s),
            "envelope_size": self.envelope_size,
            "envelopes": self.envelopes,
            "time_split_s": {k: round(v, 3) for k, v in self.time_split.items()},
            "latency_split_ms": {
                hop: {"p50": _pct(v, 0.50), "p99": _pct(v, 0.99)} for hop, v in self.hops_ms.items()
            },
            "pg_bytes_per_reading": round(self.bytes_per_reading),
        }


HOPS = (
    "MQTT, gateway, JetStream publish",
    "waiting on the stream",
    "gate + COPY + commit",
    "ack + committed event",
)


def _pct(values: list[float], p: float) -> float:
    v = sorted(values)
    return round(v[min(len(v) - 1, int(p * len(v)))], 1) if v else 0.0


@contextmanager
def fresh_database(admin_url: str) -> Iterator[str]:
    name = f"charter_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield f"{admin_url.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def seed(settings: Settings, n_devices: int) -> list[DeviceSigner]:
    platform = build(settings)
    try:
        reg = platform.registry
        # The sample city's projects, consulted and approved on its replayed history.
        register_projects(reg)
        return enrol(reg, [f"scale-{i:05d}" for i in range(n_devices)])
    finally:
        platform.close()


class Load:
    """Signed envelopes, round robin over the devices, each device's seq counting up."""

    def __init__(self, signers: list[DeviceSigner], size: int) -> None:
        self.signers, self.size = signers, size
        self.seq = dict.fromkeys((s.device_id for s in signers), 0)
        self.i = 0

    def make(self, n: int) -> list[tuple[str, bytes]]:
        out = []
        now = datetime.now(UTC)
        for _ in range(n):
            s = self.signers[self.i % len(self.signers)]
            self.i += 1
            self.seq[s.device_id] += 1
            readings = [
                SimReading(
                    "air.quality",
                    now - timedelta(milliseconds=self.size - j),
                    {"pm25": 10.0 + (j % 17), "no2": 20.5, "temperature": 11.0 + j % 5},
                    {"pm25": "ug/m3", "no2": "ug/m3"},
                )
                for j in range(self.size)
            ]
            out.append((s.device_id, s.envelope(self.seq[s.device_id], now, readings)))
        return out


class Committed:
    """Listens to the workers' committed events: when each message was stored."""

    def __init__(self, link: NatsLink, subjects: Subjects) -> None:
        self.at: dict[str, float] = {}
        # id -> epoch seconds: (stored on the stream, fetched, committed, event seen)
        self.marks: dict[str, tuple[float, float, float, float]] = {}
        self.stats: dict[int, dict[str, Any]] = {}
        self._lock = threading.Lock()
        link.call(link.nc.subscribe(subjects.committed, cb=self._on))
        link.call(link.nc.flush())

    async def _on(self, msg: Any) -> None:
        now, wall = time.perf_counter(), time.time()
        event = _decode(msg.data)
        ids = event.get("ids", [])
        queued = event.get("queued_at") or [0.0] * len(ids)
        fetched, committed = event.get("fetched_at", 0.0), event.get("committed_at", 0.0)
        with self._lock:
            for i, q in zip(ids, queued, strict=False):
                if i not in self.at:
                    self.at[i] = now
                    self.marks[i] = (q, fetched, committed, wall)
            st = event.get("stats") or {}
            if "pid" in st:
                self.stats[st["pid"]] = st

    def wait_for(self, ids: list[str], timeout: float) -> float:
        """Returns when every id is committed: the time of the last one."""
        deadline = time.perf_counter() + timeout
        while True:
            with self._lock:
                missing = [i for i in ids if i not in self.at]
                if not missing:
                    return max(self.at[i] for i in ids)
            if time.perf_counter() > deadline:
                raise RuntimeError(f"{len(missing)} of {len(ids)} envelopes were not committed")
            time.sleep(0.01)


def _spawn(args: list[str], env: dict[str, str], log: Path, ready: str) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        proc = subprocess.Popen(  # noqa: S603 (our own command)
            [sys.executable, "-m", "charter.cli", *args],
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=log.parent,
        )
    deadline = time.monotonic() + 120
    while ready not in log.read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{' '.join(args)} did not start:\n{log.read_text()[-2000:]}")
        time.sleep(0.05)
    return proc


class Publisher:
    """The devices' side: one MQTT connection publishing for every device, QoS 1."""

    def __init__(self, settings: Settings, root: str) -> None:
        self.root = root
        self.client = make_client(settings, f"bench-load-{uuid.uuid4().hex[:8]}", persistent=False)
        self.client.max_queued_messages_set(0)
        connect(self.client, settings, persistent=False)
        self.client.loop_start()

    def send(self, device_id: str, body: bytes) -> Any:
        return self.client.publish(up_topic(self.root, device_id), body, qos=1)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def run_scale(
    envelopes: int = 3000,
    envelope_size: int = 100,
    devices: int = 1000,
    half_load_envelopes: int | None = None,
    worker_batch: int = 256,
    admin_url: str = PG_ADMIN,
    worker_small_batch: int = 16,
    progress: Say | None = None,
) -> ScaleResult:
    say = progress or (lambda _m: None)
    result = ScaleResult(envelope_size, envelopes)
    half_n = half_load_envelopes or max(envelopes // 2, 1)
    with tempfile.TemporaryDirectory(prefix="charter-scale-") as tmp_s:
        tmp = Path(tmp_s)
        with brokers.mosquitto(tmp / "mqtt") as mqtt_port, brokers.nats_server(tmp / "nats") as np:
            mqtt_url, nats_url = f"mqtt://127.0.0.1:{mqtt_port}", f"nats://127.0.0.1:{np}"
            for workers in (1, 2):
                with fresh_database(admin_url) as db:
                    _run_one(
                        result,
                        tmp / f"w{workers}",
                        db,
                        mqtt_url,
                        nats_url,
                        workers,
                        envelopes,
                        envelope_size,
                        devices,
                        (worker_batch, worker_small_batch),
                        half_n if workers == 2 else 0,
                        say,
                    )
            say("raw limits: PostgreSQL COPY, MQTT publish, JetStream publish")
            with fresh_database(admin_url) as db:
                result.raw_copy_per_s = _raw_copy(db, envelopes, envelope_size, worker_batch)
            result.raw_mqtt_per_s, result.raw_jetstream_per_s = _raw_brokers(
                mqtt_url, nats_url, envelopes, envelope_size, devices
            )
    return result


def _run_one(
    result: ScaleResult,
    work: Path,
    db: str,
    mqtt_url: str,
    nats_url: str,
    workers: int,
    envelopes: int,
    size: int,
    devices: int,
    batches: tuple[int, int],
    half_n: int,
    say: Say,
) -> None:
    work.mkdir(parents=True)
    worker_batch, small_batch = batches
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    root = f"{prefix}/charter/v1/devices"
    settings = Settings(
        data_dir=work / "data",
        database_url=db,
        bus_url=nats_url,
        bus_prefix=prefix,
        mqtt_url=mqtt_url,
        mqtt_topic_root=root,
        mqtt_client_id=f"{prefix}-gateway",
        worker_batch=worker_batch,
        worker_small_batch=small_batch,
    )
    say(f"{workers} worker(s): registering {devices} devices, signing {envelopes} envelopes")
    signers = seed(settings, devices)
    load = Load(signers, size)
    batch = load.make(envelopes)
    env = {
        "CHARTER_DATA_DIR": str(settings.data_dir),
        "CHARTER_DATABASE_URL": db,
        "CHARTER_BUS_URL": nats_url,
        "CHARTER_BUS_PREFIX": prefix,
        "CHARTER_MQTT_URL": mqtt_url,
        "CHARTER_MQTT_TOPIC_ROOT": root,
        "CHARTER_MQTT_CLIENT_ID": f"{prefix}-gateway",
        "CHARTER_WORKER_BATCH": str(worker_batch),
        "CHARTER_WORKER_SMALL_BATCH": str(small_batch),
    }
    link = NatsLink(nats_url, name="bench")
    subjects = Subjects(prefix)
    link.call(ensure_stream(link.js, subjects))
    committed = Committed(link, subjects)
    procs = [_spawn(["worker"], env, work / f"worker{i}.log", "consuming") for i in range(workers)]
    procs.append(_spawn(["gateway"], env, work / "gateway.log", "gateway on"))
    pub = Publisher(settings, root)
    try:
        say(f"{workers} worker(s): publishing as fast as the devices can")
        ids = [message_id(b) for _, b in batch]
        t0 = time.perf_counter()
        for device_id, body in batch:
            pub.send(device_id, body)
        last = committed.wait_for(ids, timeout=600)
        result.readings_per_s[workers] = envelopes * size / (last - t0)
        if half_n:
            rate = result.readings_per_s[workers] / size / 2  # envelopes per second
            result.half_load_offered_per_s = rate * size
            say(f"half load: {rate * size:,.0f} readings/s for {half_n} envelopes")
            half = load.make(half_n)
            sent: dict[str, float] = {}
            sent_wall: dict[str, float] = {}
            t0 = time.perf_counter()
            for k, (device_id, body) in enumerate(half):
                due = t0 + k / rate
                while (now := time.perf_counter()) < due:
                    time.sleep(min(0.002, due - now))
                mid = message_id(body)
                sent[mid], sent_wall[mid] = time.perf_counter(), time.time()
                pub.send(device_id, body)
            last = committed.wait_for(list(sent), timeout=600)
            result.half_load_readings_per_s = half_n * size / (last - t0)
            result.latencies_ms = [(committed.at[i] - t) * 1000 for i, t in sent.items()]
            result.hops_ms = _hops(committed.marks, sent_wall)
        split: dict[str, float] = {}
        for st in committed.stats.values():
            for key in ("gate_s", "commit_s", "ack_s"):
                split[key] = split.get(key, 0.0) + float(st.get(key, 0.0))
        if workers == 2 or not result.time_split:
            result.time_split = split
        expected = (envelopes + half_n) * size
        store = PostgresStore(db)
        try:
            stored = store.count_readings()
            with store.engine.connect() as conn:
                size = conn.exec_driver_sql(
                    "SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits"
                    " WHERE inhparent = 'readings'::regclass"
                ).scalar_one()
            result.bytes_per_reading = int(size or 0) / max(1, stored)
        finally:
            store.close()
        if stored != expected:
            raise RuntimeError(f"stored {stored} readings, expected {expected}")
    finally:
        pub.close()
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)
        link.close()


def _hops(
    marks: dict[str, tuple[float, float, float, float]], sent: dict[str, float]
) -> dict[str, list[float]]:
    """Each envelope's publish → commit time, cut at the stream, the fetch and the commit."""
    hops: dict[str, list[float]] = {h: [] for h in HOPS}
    for i, t in sent.items():
        points = (t, *marks[i])
        for hop, a, b in zip(HOPS, points, points[1:], strict=False):
            hops[hop].append(max(0.0, b - a) * 1000)
    return hops


def _rows(envelopes: int, size: int) -> list[tuple[Any, ...]]:
    now = int(time.time() * 1000)
    body = '{"pm25": 12.0, "no2": 20.5, "temperature": 11.0}'
    return [
        (f"urn:ngsi-ld:Device:scale-{e % 1000:05d}", AIR, "air.quality", now - j, now, e, body)
        for e in range(envelopes)
        for j in range(size)
    ]


def _raw_copy(db: str, envelopes: int, size: int, worker_batch: int) -> float:
    """COPY of the same number of rows, in commits of one worker batch."""
    store = PostgresStore(db)
    rows = _rows(envelopes, size)
    now = int(time.time() * 1000)
    store.ensure_partitions({now - now % 86_400_000, (now - size) - (now - size) % 86_400_000})
    store.close()
    per_commit = worker_batch * size
    with psycopg.connect(db) as conn:
        t0 = time.perf_counter()
        for i in range(0, len(rows), per_commit):
            with conn.cursor() as cur, cur.copy(COPY_READINGS) as copy:
                copy.set_types(COPY_TYPES)
                for row in rows[i : i + per_commit]:
                    copy.write_row(row)
            conn.commit()
        return len(rows) / (time.perf_counter() - t0)


def _raw_brokers(
    mqtt_url: str, nats_url: str, envelopes: int, size: int, devices: int
) -> tuple[float, float]:
    signers = [DeviceSigner(urn("Device", f"raw-{i:05d}")) for i in range(min(devices, 50))]
    bodies = [b for _, b in Load(signers, size).make(envelopes)]
    settings = Settings(mqtt_url=mqtt_url)
    pub = Publisher(settings, f"raw{uuid.uuid4().hex[:8]}")
    try:
        t0 = time.perf_counter()
        infos = [pub.send("x", b) for b in bodies]
        for info in infos:
            info.wait_for_publish(120)
        mqtt_rate = envelopes * size / (time.perf_counter() - t0)
    finally:
        pub.close()
    link = NatsLink(nats_url, name="bench-raw")
    try:
        subjects = Subjects(f"raw{uuid.uuid4().hex[:8]}")
        link.call(ensure_stream(link.js, subjects))
        t0 = time.perf_counter()
        for i in range(0, len(bodies), 256):
            publish_envelopes(link, subjects, bodies[i : i + 256])
        js_rate = envelopes * size / (time.perf_counter() - t0)
        link.call(link.js.delete_stream(subjects.stream))
    finally:
        link.close()
    return mqtt_rate, js_rate
