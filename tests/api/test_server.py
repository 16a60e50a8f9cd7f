"""`charter serve` under idle, slow and never-ending clients (a real uvicorn process).

The server runs with an open-file limit of 128 (as a small machine might),
a header and a body deadline of one second, and no reverse proxy in front.
"""

from __future__ import annotations

import json
import os
import resource
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from charter.bootstrap import build
from charter.settings import Settings
from tests.conftest import SampleCity
from tests.services import free_port, wait_port

FILES = 128


@dataclass
class Served:
    port: int
    city: SampleCity

    def sock(self) -> socket.socket:
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        return s


def _limit_files() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (FILES, FILES))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    data = tmp_path_factory.mktemp("serve") / "data"
    platform = build(Settings(data_dir=data))
    city = SampleCity(platform)
    platform.close()
    port = free_port()
    env = {
        **os.environ,
        "CHARTER_DATA_DIR": str(data),
        "CHARTER_PORT": str(port),
        "CHARTER_HTTP_HEADER_TIMEOUT_S": "1",
        "CHARTER_HTTP_BODY_TIMEOUT_S": "1",
    }
    log = (data.parent / "serve.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "charter.cli", "serve"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=_limit_files,
    )
    try:
        wait_port(port, timeout=60)
        yield Served(port, city)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def _ingest(served: Served) -> httpx.Response:
    body = served.city.envelope(served.city.air)
    return httpx.post(f"http://127.0.0.1:{served.port}/ingest", content=body, timeout=15)


def _read_all(s: socket.socket) -> bytes:
    out = b""
    while chunk := s.recv(65536):
        out += chunk
    return out


def test_idle_connections_past_the_open_file_limit_do_not_stop_honest_ingest(
    served: Served,
) -> None:
    idle = []
    try:
        for _ in range(FILES + 40):
            try:
                idle.append(served.sock())
            except OSError:
                break  # the kernel's backlog is full: enough
        r = _ingest(served)
        assert r.status_code == 200, r.text
        assert r.json()["admitted"] == 1
    finally:
        for s in idle:
            s.close()


def test_a_client_that_never_finishes_its_headers_is_cut_off(served: Served) -> None:
    with served.sock() as s:
        s.sendall(b"POST /ingest HTTP/1.1\r\nHost: charter\r\nX-Slow: ")
        assert _read_all(s) == b""  # closed by the server, nothing answered


def test_a_body_that_never_ends_gets_408_and_the_connection_is_let_go(served: Served) -> None:
    with served.sock() as s:
        s.sendall(
            b"POST /ingest HTTP/1.1\r\nHost: charter\r\nContent-Length: 100000\r\n\r\n"
            b'{"envelope":{"v":1,"de'
        )
        answer = _read_all(s)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408")
    assert b"application/problem+json" in head
    assert json.loads(body)["reason"] == "REQUEST_TIMEOUT"


def test_a_large_body_naming_no_registered_device_is_refused_before_it_is_read(
    served: Served,
) -> None:
    head = b'{"envelope":{"v":1,"device":"urn:ngsi-ld:Device:nobody","seq":1,"readings":['
    part = head + b" " * (70 * 1024)
    with served.sock() as s:
        s.sendall(
            b"POST /ingest HTTP/1.1\r\nHost: charter\r\nContent-Length: 3000000\r\n\r\n" + part
        )
        answer = _read_all(s)  # answered although most of the body never came
    status, _, rest = answer.partition(b"\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 401")
    assert json.loads(rest)["reason"] == "NOT_REGISTERED"
