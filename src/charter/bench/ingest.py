"""`charter bench ingest`: the full gate into a fresh SQLite store, beside raw executemany.

Envelopes are signed before the clock starts (that is the devices' work); the
gate then checks every signature and runs every stage. The raw limit inserts the
very rows the gate stored, with the same batch size, into the same schema and
indexes.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from charter.bench.seed import enrol
from charter.bootstrap import build
from charter.device import SimReading
from charter.domain.model import Actor
from charter.gate.batch import Batch
from charter.settings import Settings
from charter.sim.city import register_projects
from charter.store.sqlite import INSERT_READINGS, SqliteStore

BENCH = Actor(name="bench", role="operator")


@dataclass
class IngestResult:
    readings: int
    envelope_size: int
    batch_envelopes: int
    gate_seconds: float
    raw_seconds: float
    stage_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def readings_per_s(self) -> float:
        return self.readings / self.gate_seconds

    @property
    def raw_insert_per_s(self) -> float:
        return self.readings / self.raw_seconds

    def to_json(self) -> dict[str, float | int]:
        return {
            "readings_per_s": round(self.readings_per_s),
            "raw_insert_per_s": round(self.raw_insert_per_s),
            "ratio": round(self.readings_per_s / self.raw_insert_per_s, 3),
            "envelope_size": self.envelope_size,
        }


def _timed(
    name: str, stage: Callable[[Batch], None], acc: dict[str, float]
) -> Callable[[Batch], None]:
    def run(batch: Batch) -> None:
        t = time.perf_counter()
        stage(batch)
        acc[name] = acc.get(name, 0.0) + time.perf_counter() - t

    return run


def run_ingest(
    envelopes: int = 2000,
    envelope_size: int = 100,
    batch: int = 10,
    devices: int = 100,
    progress: Callable[[str], None] | None = None,
) -> IngestResult:
    say = progress or (lambda _m: None)
    with tempfile.TemporaryDirectory(prefix="charter-bench-") as tmp:
        platform = build(Settings(data_dir=Path(tmp) / "gate"))
        # The sample city's projects, consulted and approved on its replayed history.
        register_projects(platform.registry)
        signers = enrol(platform.registry, [f"bench-{i:04d}" for i in range(devices)])
        say(f"signing {envelopes} envelopes of {envelope_size} readings")
        now = datetime.now(UTC)
        bodies = []
        for e in range(envelopes):
            s = signers[e % devices]
            readings = [
                SimReading(
                    "air.quality",
                    now - timedelta(milliseconds=envelope_size - j),
                    {"pm25": 10.0 + (j % 17), "no2": 20.5, "temperature": 11.0 + j % 5},
                    {"pm25": "ug/m3", "no2": "ug/m3"},
                )
                for j in range(envelope_size)
            ]
            bodies.append(s.envelope(e + 1, now, readings))
        stage_seconds: dict[str, float] = {}
        gate = platform.gate
        gate.stages = [_timed(type(st).__name__.lower(), st, stage_seconds) for st in gate.stages]
        say("running the gate")
        t0 = time.perf_counter()
        admitted = 0
        for i in range(0, len(bodies), batch):
            admitted += sum(o.admitted for o in gate.ingest(bodies[i : i + batch]))
        gate_seconds = time.perf_counter() - t0
        expected = envelopes * envelope_size
        if admitted != expected:
            raise RuntimeError(f"the gate admitted {admitted} of {expected} readings")
        rows = [
            (r.device_id, r.project_id, r.category, r.observed_at, r.received_at, r.seq, r.body)
            for r in platform.store.readings(limit=expected)
        ]
        platform.close()
        stage_total = sum(stage_seconds.values())
        stage_seconds["store (commit)"] = max(0.0, gate_seconds - stage_total)

        say("inserting the same rows with executemany")
        raw = SqliteStore(Path(tmp) / "raw" / "charter.db")
        conn = raw.engine.raw_connection()
        per_commit = batch * envelope_size
        t0 = time.perf_counter()
        for i in range(0, len(rows), per_commit):
            cur = conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            cur.executemany(INSERT_READINGS, rows[i : i + per_commit])
            cur.execute("COMMIT")
        raw_seconds = time.perf_counter() - t0
        conn.close()
        raw.close()
        return IngestResult(
            expected, envelope_size, batch, gate_seconds, raw_seconds, stage_seconds
        )
