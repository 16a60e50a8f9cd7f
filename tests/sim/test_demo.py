"""The demo as a user runs it: the real command, the real server, real HTTP."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

DEMO_REASONS = {
    "BAD_SIGNATURE",
    "REPLAYED_SEQUENCE",
    "UNDECLARED_CATEGORY",
    "PROJECT_NOT_LIVE",
    "MALFORMED_JSON",
    "VENDOR_UNTRUSTED",
    "NO_CONSENT",
    "STALE_TIMESTAMP",
    "WRONG_TYPE",
    "WRONG_UNIT",
    "DEVICE_SUSPENDED",
    "DEVICE_REVOKED",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_demo(data_dir: Path, seconds: int = 8) -> dict[str, object]:
    cmd = [
        sys.executable,
        "-m",
        "charter.cli",
        "demo",
        "--data-dir",
        str(data_dir),
        "--port",
        str(free_port()),
        "--duration",
        str(seconds),
        "--devices",
        "120",
        "--period",
        "2",
        "--json",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "operator token: chr_" in done.stdout
    assert "`charter policy check` explains" in done.stdout
    # The city services ran on their simulated city, and the demo says on which model.
    assert "service adaptive signals: on the built-in junction model" in done.stdout
    assert "service snow-melt:" in done.stdout and "service hazard:" in done.stdout
    assert "service preemption: on the built-in junction model" in done.stdout
    assert "service accessible crossing: on the built-in junction model" in done.stdout
    summary: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return summary


@pytest.mark.slow
def test_demo_admits_honest_readings_and_refuses_every_kind_of_mischief(tmp_path: Path) -> None:
    summary = run_demo(tmp_path / "d")
    assert isinstance(summary["admitted"], int) and summary["admitted"] > 0
    rejected = summary["rejected"]
    assert isinstance(rejected, dict)
    assert set(rejected) >= DEMO_REASONS, DEMO_REASONS - set(rejected)
    assert isinstance(summary["quarantined"], int) and summary["quarantined"] > 0
    assert isinstance(summary["ledger_size"], int) and summary["ledger_size"] > 120
    assert isinstance(summary["peak_rss_mb"], float) and summary["peak_rss_mb"] < 300
    services = summary["services"]
    assert isinstance(services, dict)
    signals = services["adaptive signals"]
    assert signals["simulator"] == "built-in junction model"
    assert signals["safety_violations"] == 0 and signals["plans_sent"] > 0
    assert signals["delay_adaptive_s"] < signals["delay_fixed_s"]
    assert services["hazard"]["alerts_raised"] > 0 and services["hazard"]["zones"] == ["riverside"]
    assert services["snow-melt"]["energy_saving"] > 0
    evp = services["preemption"]
    assert evp["simulator"] == "built-in junction model" and evp["safety_violations"] == 0
    assert evp["granted"] > 0 and evp["travel_time_with_s"] < evp["travel_time_without_s"]
    walk = services["accessible crossing"]
    assert walk["consented"] == ["admitted"] and walk["extensions_served"] == 1
    assert walk["not_consented"] == ["NO_CONSENT"] and walk["stored_about_not_consented"] == 0
    assert walk["alerts_verified"] == 1 and walk["safety_violations"] == 0

    # Run again on the same data: the register is reused and the ledger verifies.
    again = run_demo(tmp_path / "d", seconds=4)
    assert isinstance(again["admitted"], int) and again["admitted"] > summary["admitted"]  # type: ignore[operator]
    verify = subprocess.run(
        [
            sys.executable,
            "-m",
            "charter.cli",
            "ledger",
            "verify",
            "--data-dir",
            str(tmp_path / "d"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert verify.returncode == 0 and "ledger OK" in verify.stdout
