"""Kill the real server mid-stream: whatever it acknowledged is stored, exactly once.

The server is `charter serve` in its own process, on 127.0.0.1 only. Devices send
signed envelopes from threads while an operator changes the register; the process
is then killed with SIGKILL (no shutdown, no flush). Every envelope answered 200
must be in the store with all its readings, once; every change answered 200 must
be on the ledger, once; and the ledger must still verify and the server restart.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import httpx
import msgspec
import pytest

from charter.auth import Role, issue_token
from charter.bootstrap import build
from charter.device import DeviceSigner, SimReading
from charter.domain.model import DeviceStatus
from charter.keys import load_or_create
from charter.ledger.checkpoint import verify_checkpoint
from charter.ledger.verify import verify
from charter.settings import Settings
from charter.sim import city as sample
from charter.store.sqlite import SqliteStore
from tests.conftest import SampleCity

pytestmark = pytest.mark.slow

CHARTER = Path(sys.executable).with_name("charter")
HOST = "127.0.0.1"
READINGS_PER_ENVELOPE = 10
SEND_FOR_S = 1.5


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHARTER_")}
    env["COLUMNS"] = "200"
    return env


@dataclass
class Server:
    """`charter serve` as a child process; its output goes to a log file."""

    data_dir: Path
    log_path: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> None:
        assert CHARTER.exists(), CHARTER
        self.log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [
                str(CHARTER),
                "serve",
                "--data-dir",
                str(self.data_dir),
                "--host",
                HOST,
                "--port",
                str(self.port),
            ],
            cwd=self.data_dir.parent,
            env=clean_env(),
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]

    def wait_healthy(self, timeout: float = 30.0) -> dict[str, Any]:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.url, timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    pytest.fail(f"server exited with {self.proc.returncode}:\n{self.output()}")
                try:
                    r = client.get("/health")
                except httpx.TransportError:
                    time.sleep(0.1)
                    continue
                if r.status_code == 200:
                    body: dict[str, Any] = r.json()
                    return body
                time.sleep(0.1)
        pytest.fail(f"server not healthy after {timeout} s:\n{self.output()}")

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        assert self.proc.returncode == -signal.SIGKILL

    def stop(self) -> None:
        assert self.proc is not None
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        if self.log is not None:
            self.log.close()


@contextmanager
def serving(data_dir: Path, log_path: Path) -> Iterator[Server]:
    server = Server(data_dir, log_path)
    try:
        server.start()
        server.wait_healthy()
        yield server
    finally:
        server.close()


@dataclass
class Seeded:
    data_dir: Path
    senders: list[DeviceSigner]
    spare: str  # a device whose status the operator keeps changing
    operator_token: str


@pytest.fixture
def seeded(tmp_path: Path) -> Seeded:
    d = tmp_path / "charter-data"
    p = build(Settings(data_dir=d))  # the real clock, the ledger key under d/keys
    try:
        city = SampleCity(p)
        extra = [
            city.device(f"air-{i}", sample.TRUSTED, sample.AIR, ["air.quality"]) for i in range(3)
        ]
        spare = city.device("air-spare", sample.TRUSTED, sample.AIR, ["air.quality"])
        token = issue_token(p.store, p.clock, "night-operator", Role.OPERATOR)
    finally:
        p.close()
    return Seeded(d, [city.air, *extra], spare.device_id, token)


def honest_envelope(signer: DeviceSigner, seq: int) -> bytes:
    now = datetime.now(UTC)
    readings = [
        SimReading(
            "air.quality",
            now - timedelta(milliseconds=10 * (READINGS_PER_ENVELOPE - i)),
            {"pm25": float(i), "no2": float(seq % 1000)},
            {"pm25": "ug/m3", "no2": "ug/m3"},
        )
        for i in range(READINGS_PER_ENVELOPE)
    ]
    return signer.envelope(seq, now, readings)


@dataclass
class Traffic:
    acked: list[tuple[str, int]] = field(default_factory=list)
    changes: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def device(self, url: str, signer: DeviceSigner) -> None:
        try:
            with httpx.Client(base_url=url, timeout=10.0) as client:
                for seq in range(1, 100_000):
                    if self.stop.is_set():
                        return
                    try:
                        r = client.post("/ingest", content=honest_envelope(signer, seq))
                    except httpx.TransportError:
                        return  # the server is gone
                    if r.status_code == 200 and r.json()["admitted"] == READINGS_PER_ENVELOPE:
                        self.acked.append((signer.device_id, seq))
                    else:
                        self.errors.append(
                            f"{signer.device_id} seq {seq}: {r.status_code} {r.text}"
                        )
                        return
        except BaseException as e:  # reported by the test, not the thread
            self.errors.append(f"{signer.device_id}: {e!r}")

    def operator(self, url: str, device_id: str, token: str) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        statuses = [DeviceStatus.SUSPENDED, DeviceStatus.ACTIVE]
        try:
            with httpx.Client(base_url=url, timeout=10.0, headers=headers) as client:
                for n in range(100_000):
                    if self.stop.is_set():
                        return
                    body = {"status": statuses[n % 2].value, "why": f"crash-toggle {n}"}
                    try:
                        r = client.post(f"/devices/{device_id}/status", json=body)
                    except httpx.TransportError:
                        return
                    if r.status_code != 200:
                        self.errors.append(f"status change {n}: {r.status_code} {r.text}")
                        return
                    self.changes.append(n)
        except BaseException as e:
            self.errors.append(f"operator: {e!r}")


def stored_by_envelope(store: SqliteStore, device_id: str) -> dict[int, list[float]]:
    """seq -> the pm25 of every stored reading of that envelope, in storage order."""
    out: dict[int, list[float]] = defaultdict(list)
    after = 0
    for _ in range(10_000):
        page = store.readings(device_id=device_id, after_id=after, limit=5000)
        for row in page:
            out[row.seq].append(msgspec.json.decode(row.body)["pm25"])
        if len(page) < 5000:
            return out
        after = page[-1].id
    raise AssertionError("too many pages")


def test_acknowledged_envelopes_and_changes_survive_sigkill(seeded: Seeded, tmp_path: Path) -> None:
    d = seeded.data_dir
    traffic = Traffic()
    with serving(d, tmp_path / "server-1.log") as server:
        threads = [
            threading.Thread(target=traffic.device, args=(server.url, s), daemon=True)
            for s in seeded.senders
        ]
        threads.append(
            threading.Thread(
                target=traffic.operator,
                args=(server.url, seeded.spare, seeded.operator_token),
                daemon=True,
            )
        )
        for t in threads:
            t.start()
        time.sleep(SEND_FOR_S)
        server.kill()  # mid-stream: requests are in flight
        traffic.stop.set()
        for t in threads:
            t.join(timeout=30)
        assert not any(t.is_alive() for t in threads), "a sender did not stop"
        log = server.output()

    assert traffic.errors == [], (traffic.errors[:5], log)
    assert len(traffic.acked) >= 10, f"too little traffic to prove anything: {len(traffic.acked)}"
    assert traffic.changes, "no register change was acknowledged"

    # --- after the crash: open the store as the next start would -------------------
    store = SqliteStore(d / "charter.db")
    try:
        acked_by_device: dict[str, set[int]] = defaultdict(set)
        for device_id, seq in traffic.acked:
            acked_by_device[device_id].add(seq)
        for signer in seeded.senders:
            stored = stored_by_envelope(store, signer.device_id)
            for seq in sorted(acked_by_device[signer.device_id]):
                assert seq in stored, f"{signer.device_id} seq {seq} was acknowledged but is lost"
                assert sorted(stored[seq]) == [float(i) for i in range(READINGS_PER_ENVELOPE)], (
                    signer.device_id,
                    seq,
                    stored[seq],
                )
            # An envelope is stored whole or not at all, acknowledged or not; never twice.
            for seq, values in stored.items():
                assert len(values) == READINGS_PER_ENVELOPE, (signer.device_id, seq, values)
            # At most the envelope in flight at the kill was stored without its answer.
            unacked = set(stored) - acked_by_device[signer.device_id]
            assert len(unacked) <= 1, (signer.device_id, sorted(unacked))
            assert store.device_seq(signer.device_id) == max(stored, default=-1)

        # Every acknowledged change is on the ledger, once, and the ledger verifies.
        toggles: list[int] = []
        for entry in store.iter_ledger_entries():
            data = msgspec.json.decode(entry.data)
            if entry.kind == "device.status" and data["why"].startswith("crash-toggle "):
                toggles.append(int(data["why"].split()[1]))
        assert len(toggles) == len(set(toggles))
        assert set(traffic.changes) <= set(toggles)
        assert len(set(toggles) - set(traffic.changes)) <= 1

        key = load_or_create(d / "keys" / "ledger.pem", Settings().ledger_origin.split("/")[0])
        report = verify(store, key.name, key.public_key)
        assert report.ok, report.problems
        last_seqs = {s.device_id: store.device_seq(s.device_id) for s in seeded.senders}
        ledger_size = report.size
    finally:
        store.close()

    # --- restart: the server serves again, continues each device's sequence ----------
    with serving(d, tmp_path / "server-2.log") as server:
        health = server.wait_healthy()
        assert health["ledger_size"] == ledger_size
        with httpx.Client(base_url=server.url, timeout=10.0) as client:
            for signer in seeded.senders:
                last = last_seqs[signer.device_id]
                if last >= 1:
                    replay = client.post("/ingest", content=honest_envelope(signer, last))
                    assert replay.status_code == 409, replay.text
                r = client.post("/ingest", content=honest_envelope(signer, last + 1))
                assert r.status_code == 200, r.text
                assert r.json()["admitted"] == READINGS_PER_ENVELOPE
            r = client.post(
                f"/devices/{seeded.spare}/status",
                json={"status": "revoked", "why": "after the restart"},
                headers={"Authorization": f"Bearer {seeded.operator_token}"},
            )
            assert r.status_code == 200, r.text
            note = client.get("/ledger/checkpoint").text
        cp = verify_checkpoint(note, key.name, key.public_key)
        assert cp.size == ledger_size + 1
        server.stop()
        assert server.proc is not None and server.proc.returncode is not None

    r = subprocess.run(
        [str(CHARTER), "ledger", "verify", "--data-dir", str(d)],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "ledger OK" in r.stdout
