"""The machine's real services for integration tests: PostgreSQL, Mosquitto, NATS.

A test that needs a service skips with the reason when it is missing, except
under CI=true, where a missing service is a failure. Tests that restart a
broker start their own on a free port, so other users of the machine's
brokers are not disturbed. Every database, stream and topic has a unique name.
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

PG_ADMIN_URL = os.environ.get("CHARTER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"


def need(ok: bool, reason: str) -> None:
    """Skip without the service, but fail under CI, where it must be there."""
    if ok:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"required service missing under CI: {reason}")
    pytest.skip(reason)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not port_open(port):
        if time.monotonic() > deadline:
            raise RuntimeError(f"nothing listens on port {port}")
        time.sleep(0.05)


def unique(prefix: str = "t") -> str:
    return f"{prefix}{uuid.uuid4().hex[:12]}"


@contextmanager
def pg_database() -> Iterator[str]:
    """A fresh, uniquely named PostgreSQL database; dropped afterwards."""
    need(port_open(5432), "PostgreSQL is not running on 127.0.0.1:5432")
    import psycopg

    name = unique("charter_test_")
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


class Daemon:
    """A broker process of our own on a free port, restartable."""

    def __init__(self, argv: list[str], port: int, log: Path) -> None:
        self.argv, self.port, self.log = argv, port, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT)
        wait_port(self.port)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


@contextmanager
def own_mosquitto(tmp: Path, extra: str = "") -> Iterator[Daemon]:
    need(Path(MOSQUITTO).exists(), "mosquitto is not installed")
    port = free_port()
    tmp.mkdir(parents=True, exist_ok=True)
    conf = tmp / "mosquitto.conf"
    conf.write_text(
        # As root, mosquitto drops to its own user unless told to stay: it must
        # write its persistence file into the test's private directory.
        f"user {getpass.getuser()}\n"
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
        f"persistence_location {tmp}/\nautosave_interval 1\nmax_queued_messages 100000\n" + extra
    )
    d = Daemon([MOSQUITTO, "-c", str(conf)], port, tmp / "mosquitto.log")
    d.start()
    try:
        yield d
    finally:
        d.stop()


@contextmanager
def own_nats(tmp: Path) -> Iterator[Daemon]:
    need(Path(NATS_SERVER).exists(), "nats-server is not installed")
    port = free_port()
    store = tmp / "js"
    store.mkdir(parents=True, exist_ok=True)
    argv = [NATS_SERVER, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(store)]
    d = Daemon(argv, port, tmp / "nats.log")
    d.start()
    try:
        yield d
    finally:
        d.stop()
