"""Brokers of the benchmark's own: a Mosquitto and a nats-server on free ports.

The benchmark restarts nothing, but it must not share queues, sessions or
streams with anyone else on the machine, and it wants a broker configured for
load (a deep queue per client), so it starts its own from the system binaries.
"""

from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing listens on port {port}") from None
            time.sleep(0.05)


@contextmanager
def _daemon(argv: list[str], port: int, log: Path) -> Iterator[int]:
    with log.open("ab") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603
    try:
        wait_port(port)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=15)


@contextmanager
def mosquitto(workdir: Path) -> Iterator[int]:
    """A Mosquitto for load: deep per-client queues, no persistence (a benchmark)."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(
        f"user {getpass.getuser()}\nlistener {port} 127.0.0.1\nallow_anonymous true\n"
        "max_inflight_messages 1000\nmax_queued_messages 1000000\n"
    )
    with _daemon([MOSQUITTO, "-c", str(conf)], port, workdir / "mosquitto.log") as p:
        yield p


@contextmanager
def nats_server(workdir: Path) -> Iterator[int]:
    store = workdir / "js"
    store.mkdir(parents=True, exist_ok=True)
    port = free_port()
    argv = [NATS_SERVER, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(store)]
    with _daemon(argv, port, workdir / "nats.log") as p:
        yield p
