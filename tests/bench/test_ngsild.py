"""`charter bench ngsi-ld` runs end to end at a small scale (speed is not asserted here)."""

from __future__ import annotations

import json
import subprocess
import sys

SMALL = ["--small", "60", "--large", "2060", "--concurrency", "4"]
KEYS = {
    "updates_per_s", "noop_per_s", "update_ratio", "creates_per_s",
    "batch_upsert_entities_per_s", "batch_upsert_storage_floor_per_s",
    "batch_upsert_share_of_floor", "query_p95_ms_100k", "errors", "load_avg_1m",
}  # fmt: skip


def test_bench_ngsild_drives_a_served_charter_and_ends_with_json() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "charter.cli", "bench", "ngsi-ld", "--json", *SMALL],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(figures) >= KEYS
    assert figures["errors"] == 0, figures["error_statuses"]
    for key in (
        "updates_per_s", "noop_per_s", "creates_per_s", "batch_upsert_entities_per_s",
        "batch_upsert_storage_floor_per_s", "batch_upsert_share_of_floor",
    ):  # fmt: skip
        assert figures[key] > 0
    assert figures["query_p95_ms_100k"] > 0 and figures["query_type_p95_ms_100k"] > 0
