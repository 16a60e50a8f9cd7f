"""`charter bench outage`: the gateway or PostgreSQL away under load, then back.

Devices publish signed envelopes over MQTT (QoS 1) at a steady rate through
the scale-out path (Mosquitto → gateway → JetStream → worker → PostgreSQL).
After `before_s`, one part goes away for `outage_s`:

* `gateway`: the gateway process is killed (SIGKILL) and started again; the
  broker keeps its persistent session and queues for it;
* `postgres`: the worker's connection to PostgreSQL goes through a TCP relay
  of the benchmark's own, which is cut (every connection reset, nothing
  listening) and restored. The shared PostgreSQL server is not touched.

Devices keep publishing throughout and for `after_s` more. An envelope is
*acked* when its PUBACK came back. Then the benchmark waits until every acked
envelope is stored, and reports what was acked but is not stored (the bar is
0), what is stored twice (0), and `recovery_s`: from the end of the outage
until the last acked envelope was stored.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import paho.mqtt.client as mqtt

from charter.bench import brokers
from charter.bench.scale import PG_ADMIN, _spawn, fresh_database, seed
from charter.device import DeviceSigner, SimReading
from charter.settings import Settings
from charter.store.postgres import PostgresStore
from charter.transport.mqtt import connect, make_client, up_topic

Say = Callable[[str], None]
KINDS = ("gateway", "postgres")
STALL_S = 45.0


@dataclass
class OutageResult:
    kind: str
    outage_s: float
    sent: int = 0
    acked: int = 0
    stored: int = 0
    acked_but_missing: int = 0
    stored_twice: int = 0
    recovery_s: float | None = None
    rejected: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "outage_s": self.outage_s,
            "sent": self.sent,
            "rejected": self.rejected,
            "stored": self.stored,
            "acked": self.acked,
            "acked_but_missing": self.acked_but_missing,
            "stored_twice": self.stored_twice,
            "recovery_s": self.recovery_s,
        }


class Relay:
    """A TCP relay to PostgreSQL that can be cut (connections reset) and restored."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = brokers.free_port()
        self._socks: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self.up()

    def up(self) -> None:
        lst = socket.socket()
        lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lst.bind(("127.0.0.1", self.port))
        lst.listen(64)
        self._listener = lst
        threading.Thread(target=self._accept, args=(lst,), daemon=True).start()

    def down(self) -> None:
        if self._listener is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone does not.
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            socks, self._socks = self._socks, set()
        for s in socks:
            try:
                s.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                )
                s.close()
            except OSError:
                pass

    def _accept(self, lst: socket.socket) -> None:
        while True:
            try:
                client, _ = lst.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._socks |= {client, server}
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.close()


class Devices:
    """The devices' side: one MQTT connection, QoS 1; PUBACKs counted per envelope."""

    def __init__(self, settings: Settings, signers: list[DeviceSigner]) -> None:
        self.signers, self.root = signers, settings.mqtt_topic_root
        self.seq = dict.fromkeys((s.device_id for s in signers), 0)
        self.i = 0
        self.sent: dict[int, tuple[str, int]] = {}
        self.acked: set[tuple[str, int]] = set()
        self._early: set[int] = set()
        self._lock = threading.Lock()
        self.client = make_client(settings, f"bench-dev-{uuid.uuid4().hex[:8]}", persistent=False)
        self.client.max_queued_messages_set(0)
        self.client.on_publish = self._puback
        connect(self.client, settings, persistent=False)
        self.client.loop_start()

    def _puback(self, _c: mqtt.Client, _u: Any, mid: int, _r: Any, _p: Any) -> None:
        with self._lock:
            key = self.sent.pop(mid, None)
            if key is None:
                self._early.add(mid)  # acknowledged before send_one noted it
            else:
                self.acked.add(key)

    def send_one(self) -> None:
        s = self.signers[self.i % len(self.signers)]
        self.i += 1
        self.seq[s.device_id] += 1
        now = datetime.now(UTC)
        reading = SimReading(
            "air.quality", now, {"pm25": 10.0, "no2": 20.5}, {"pm25": "ug/m3", "no2": "ug/m3"}
        )
        body = s.envelope(self.seq[s.device_id], now, [reading])
        # Not under self._lock: paho may hold its own lock while it calls _puback.
        info = self.client.publish(up_topic(self.root, s.device_id), body, qos=1)
        key = (s.device_id, self.seq[s.device_id])
        with self._lock:
            if info.mid in self._early:
                self._early.discard(info.mid)
                self.acked.add(key)
            else:
                self.sent[info.mid] = key

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def run_outage(
    kind: str = "gateway",
    outage_s: float = 40.0,
    rate: float = 100.0,
    devices: int = 50,
    before_s: float = 5.0,
    after_s: float = 5.0,
    admin_url: str = PG_ADMIN,
    wait_s: float = 300.0,
    progress: Say | None = None,
) -> OutageResult:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}")
    say = progress or (lambda _m: None)
    result = OutageResult(kind, outage_s)
    with tempfile.TemporaryDirectory(prefix="charter-outage-") as tmp_s:
        tmp = Path(tmp_s)
        with (
            brokers.mosquitto(tmp / "mqtt") as mqtt_port,
            brokers.nats_server(tmp / "nats") as nats_port,
            fresh_database(admin_url) as db,
        ):
            _run(
                result,
                tmp,
                db,
                mqtt_port,
                nats_port,
                (rate, devices, before_s, after_s),
                say,
                wait_s,
            )
    return result


def _run(
    result: OutageResult,
    tmp: Path,
    db: str,
    mqtt_port: int,
    nats_port: int,
    load: tuple[float, int, float, float],
    say: Say,
    wait_s: float,
) -> None:
    rate, n_devices, before_s, after_s = load
    prefix = f"outage{uuid.uuid4().hex[:8]}"
    u = urlparse(db)
    relay = Relay((u.hostname or "127.0.0.1", u.port or 5432))
    # A worker must not wait for ever on a database that does not answer.
    worker_db = db.replace(f"{u.hostname}:{u.port or 5432}", f"127.0.0.1:{relay.port}")
    worker_db += ("&" if "?" in worker_db else "?") + "connect_timeout=5"
    settings = Settings(
        data_dir=tmp / "data",
        database_url=db,
        bus_url=f"nats://127.0.0.1:{nats_port}",
        bus_prefix=prefix,
        mqtt_url=f"mqtt://127.0.0.1:{mqtt_port}",
        mqtt_topic_root=f"{prefix}/charter/v1/devices",
        mqtt_client_id=f"{prefix}-gateway",
    )
    say(f"registering {n_devices} devices")
    signers = seed(settings, n_devices)
    env = {
        "CHARTER_DATA_DIR": str(settings.data_dir),
        "CHARTER_DATABASE_URL": worker_db,
        "CHARTER_BUS_URL": settings.bus_url or "",
        "CHARTER_BUS_PREFIX": prefix,
        "CHARTER_MQTT_URL": settings.mqtt_url,
        "CHARTER_MQTT_TOPIC_ROOT": settings.mqtt_topic_root,
        "CHARTER_MQTT_CLIENT_ID": settings.mqtt_client_id,
    }
    worker = _spawn(["worker"], env, tmp / "worker.log", "consuming")
    gateway = _spawn(["gateway"], env, tmp / "gateway.log", "gateway on")
    procs = [worker, gateway]
    dev = Devices(settings, signers)
    try:
        say(f"{rate:g} envelopes/s; {result.kind} away after {before_s:g} s")
        t0 = time.monotonic()
        total = before_s + result.outage_s + after_s
        away = back = False
        back_at = 0.0
        k = 0
        while (now := time.monotonic() - t0) < total:
            if not away and now >= before_s:
                away = True
                if result.kind == "gateway":
                    gateway.send_signal(signal.SIGKILL)
                    gateway.wait(timeout=10)
                else:
                    relay.down()
            if away and not back and now >= before_s + result.outage_s:
                back = True
                back_at = time.monotonic()
                if result.kind == "gateway":
                    gateway = _spawn(["gateway"], env, tmp / "gateway.log", "gateway on")
                    procs.append(gateway)
                else:
                    relay.up()
            due = k / rate
            if now < due:
                time.sleep(min(0.01, due - now))
                continue
            dev.send_one()
            k += 1
        result.sent = k
        time.sleep(1.0)  # the last PUBACKs
        with dev._lock:
            acked = set(dev.acked)
        result.acked = len(acked)
        say(f"{result.sent} sent, {result.acked} acked; waiting for every acked one to be stored")
        store = PostgresStore(db)
        try:
            deadline = time.monotonic() + wait_s
            progress_at, last = time.monotonic(), -1
            while True:
                stored = _stored(store)
                missing = acked - set(stored)
                if not missing:
                    result.recovery_s = round(time.monotonic() - back_at, 1)
                    break
                if len(stored) != last:
                    progress_at, last = time.monotonic(), len(stored)
                # Give up at the deadline, or when nothing more has been stored for
                # STALL_S (what is missing then was refused or lost).
                if time.monotonic() > min(deadline, progress_at + STALL_S):
                    break
                time.sleep(0.5)
            time.sleep(1.0)  # anything still in flight would show up twice now
            stored = _stored(store)
            result.stored = sum(stored.values())
            result.acked_but_missing = len(acked - set(stored))
            result.stored_twice = sum(n - 1 for n in stored.values() if n > 1)
            result.rejected = {str(k): v for k, v in store.rejections_by_reason().items()}
        finally:
            store.close()
    finally:
        dev.close()
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)
        relay.down()


def _stored(store: PostgresStore) -> Counter[tuple[str, int]]:
    with store.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT device_id, seq, count(*) FROM readings GROUP BY 1, 2")
        return Counter({(r[0], int(r[1])): int(r[2]) for r in rows})
