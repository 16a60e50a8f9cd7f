"""`charter bench scale` runs end to end on the real services (tiny sizes; speed not asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from charter.bench import brokers
from tests.services import need, port_open

KEYS = {"readings_per_s_1_worker", "readings_per_s_2_workers", "raw_copy_per_s", "p99_ms"}


@pytest.mark.slow
def test_scale_bench_prints_a_table_and_the_agreed_json_last_line(tmp_path: Path) -> None:
    need(port_open(5432), "PostgreSQL is not running on 127.0.0.1:5432")
    need(Path(brokers.MOSQUITTO).exists(), "mosquitto is not installed")
    need(Path(brokers.NATS_SERVER).exists(), "nats-server is not installed")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "charter.cli",
            "bench",
            "scale",
            "--json",
            "--envelopes",
            "30",
            "--envelope-size",
            "4",
            "--devices",
            "12",
            "--half-load-envelopes",
            "12",
            "--batch",
            "8",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "publish → commit p99 at half load" in done.stdout
    assert "raw PostgreSQL COPY" in done.stdout
    last = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(last) >= KEYS
    assert list(last)[:4] == sorted(KEYS, key=list(last).index)
    assert last["readings_per_s_1_worker"] > 0 and last["readings_per_s_2_workers"] > 0
    assert last["raw_copy_per_s"] > 0 and last["p99_ms"] >= last["p50_ms"] > 0
    assert set(last["time_split_s"]) == {"gate_s", "commit_s", "ack_s"}
