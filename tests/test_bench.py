"""The benchmark runs end to end and reports its figures (speed is not asserted here)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from charter.bench.ingest import run_ingest


def test_ingest_bench_stores_every_reading_and_compares_with_raw_inserts() -> None:
    result = run_ingest(envelopes=40, envelope_size=25, batch=4, devices=8)
    assert result.readings == 1000
    figures = result.to_json()
    assert set(figures) == {"readings_per_s", "raw_insert_per_s", "ratio", "envelope_size"}
    assert figures["envelope_size"] == 25
    assert figures["ratio"] == round(figures["readings_per_s"] / figures["raw_insert_per_s"], 3)
    assert {"decode", "authenticate", "store (commit)"} <= set(result.stage_seconds)


def test_bench_command_prints_a_table_and_a_json_last_line() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "charter.cli",
            "bench",
            "ingest",
            "--json",
            "--envelopes",
            "30",
            "--envelope-size",
            "10",
            "--batch",
            "3",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "full gate, readings/s" in done.stdout
    last = json.loads(done.stdout.strip().splitlines()[-1])
    assert last["envelope_size"] == 10 and last["readings_per_s"] > 0


def test_flood_bench_keeps_the_honest_devices_counts() -> None:
    from charter.bench.flood import run_flood

    result = run_flood(honest=4, per_second=2, seconds=3, flood_per_second=150)
    figures = result.to_json()
    assert figures["honest_admitted_alone"] == 4 * 2 * 3
    assert figures["count_ratio"] >= 0.9
    assert figures["flood_rate_limited"] > 0
    assert set(figures) >= {"throughput_ratio", "honest_per_s_alone", "flood_admitted"}


def test_consent_bench_runs_both_sides_and_prints_exactly_three_figures_last() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "charter.cli",
            "bench",
            "consent",
            "--json",
            "--residents",
            "500",
            "--envelopes",
            "20",
            "--envelope-size",
            "10",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "consent stage off" in done.stdout
    last = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(last) == {"readings_per_s", "without_consent_stage_per_s", "ratio"}
    assert last["readings_per_s"] > 0 and last["without_consent_stage_per_s"] > 0
    assert last["ratio"] == pytest.approx(
        last["readings_per_s"] / last["without_consent_stage_per_s"], abs=0.01
    )


def test_consent_bench_admits_personal_readings_only_with_consent() -> None:
    from charter.bench.consent import run_consent

    result = run_consent(residents=500, envelopes=20, envelope_size=10, devices=10)
    assert result.readings == 200
    # One resident in five holds a valid consent; with the stage off all are admitted.
    assert result.admitted_personal_without == 100
    assert 0 < result.admitted_personal_with < 50


def test_strangers_bench_refuses_every_strangers_envelope_once() -> None:
    from charter.bench.strangers import run_strangers

    figures = run_strangers(honest_envelopes=20, strangers=1, stranger_bytes=50_000)
    # Refused on the header: one decision per envelope, whatever it claims to carry.
    assert figures["strangers_refused"] == figures["stranger_envelopes"]
    assert set(figures) >= {"honest_p50_ms_alone", "honest_p50_ms_flooded", "p99_ratio"}
