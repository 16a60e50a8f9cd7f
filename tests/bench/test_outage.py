"""`charter bench outage`: nothing the brokers acknowledged is lost or stored twice.

Real Mosquitto, NATS JetStream and PostgreSQL (the benchmark starts its own
brokers and a fresh database); a short outage so that CI runs it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from charter.bench import brokers
from tests.services import need, port_open


@pytest.mark.parametrize("kind", ["gateway", "postgres"])
def test_an_outage_under_load_loses_no_acknowledged_envelope(tmp_path: Path, kind: str) -> None:
    need(port_open(5432), "PostgreSQL is not running on 127.0.0.1:5432")
    need(Path(brokers.MOSQUITTO).exists(), "mosquitto is not installed")
    need(Path(brokers.NATS_SERVER).exists(), "nats-server is not installed")
    # One device at its full allowance (20 envelopes/s): the backlog of an 8 s
    # outage alone is past its burst of 100, had it been judged when worked off.
    args = ["--kind", kind, "--outage", "8", "--rate", "20", "--devices", "1"]
    args += ["--before", "1", "--after", "1"]
    done = subprocess.run(
        [sys.executable, "-m", "charter.cli", "bench", "outage", "--json", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    last = json.loads(done.stdout.strip().splitlines()[-1])
    assert last["acked"] > 0
    assert last["acked_but_missing"] == 0
    assert last["stored_twice"] == 0
    assert last["recovery_s"] is not None
    assert last["rejected"] == {}
