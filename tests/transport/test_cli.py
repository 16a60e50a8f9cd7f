"""The commands run against PostgreSQL and NATS when told to."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.services import free_port, need, port_open, unique


def test_the_demo_runs_on_postgresql_and_nats(tmp_path: Path, pg_url: str) -> None:
    need(port_open(4222), "NATS is not running on 127.0.0.1:4222")
    env = {**os.environ, "CHARTER_BUS_PREFIX": unique("demo")}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "charter.cli",
            "demo",
            "--data-dir",
            str(tmp_path / "data"),
            "--store",
            pg_url,
            "--bus",
            "nats://127.0.0.1:4222",
            "--port",
            str(free_port()),
            "--duration",
            "3",
            "--devices",
            "30",
            "--period",
            "1",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
        env=env,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["admitted"] > 0 and summary["ledger_size"] > 0
    # The ledger written to PostgreSQL verifies.
    verified = subprocess.run(
        [
            sys.executable,
            "-m",
            "charter.cli",
            "ledger",
            "verify",
            "--data-dir",
            str(tmp_path / "data"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**env, "CHARTER_DATABASE_URL": pg_url},
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "ledger OK" in verified.stdout
