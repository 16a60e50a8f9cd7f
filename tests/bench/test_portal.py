"""`charter bench portal` runs end to end at a small scale (speed is not asserted here)."""

from __future__ import annotations

import json
import subprocess
import sys

SMALL = ["--devices", "60", "--readings", "2000", "--rounds", "3"]
PAGES = {"map", "project", "consultation", "access_history", "ledger"}


def test_bench_portal_times_each_page_beside_a_no_op_and_ends_with_json() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "charter.cli", "bench", "portal", "--json", *SMALL],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(figures["pages"]) == PAGES
    for q in (*figures["pages"].values(), figures["noop_baseline"]):
        assert 0 < q["p50_ms"] <= q["p95_ms"]
    assert figures["worst_p95_ms"] == max(q["p95_ms"] for q in figures["pages"].values())
    assert figures["devices"] >= 60 and figures["readings"] == 2000
    assert "no-op route (baseline)" in done.stdout
