"""Benchmark: one device floods the gate; do the others keep their throughput?

Honest devices each send a few envelopes per (simulated) second, well within
their rate limit; one device sends far more. The same honest traffic runs once
alone (the limit this run measures against) and once beside the flood. The
requirement is on counts: the honest devices keep at least 90% of what they got
in alone. The wall-clock throughput of the honest readings is reported beside
it, to show what the flood costs the gate. Envelopes are signed before the
clock starts (that is the devices' work); simulated seconds come from a
FixedClock, so rate limits refill without sleeping.
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from charter.bench.seed import enrol
from charter.bootstrap import Platform, build
from charter.device import DeviceSigner, SimReading
from charter.domain.clock import FixedClock
from charter.domain.model import Actor
from charter.domain.reasons import Reason
from charter.settings import Settings
from charter.sim.city import register_projects

BENCH = Actor(name="bench", role="operator")
START = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Phase:
    honest_sent: int
    honest_admitted: int
    seconds: float
    flood_sent: int = 0
    flood_admitted: int = 0
    flood_limited: int = 0
    acked: int = 0  # envelopes acknowledged as admitted
    acked_but_missing: int = 0  # of those, not in the store
    stored_twice: int = 0  # (device, seq) stored more than once


@dataclass(frozen=True)
class FloodResult:
    alone: Phase
    flooded: Phase

    def to_json(self) -> dict[str, float | int]:
        a, f = self.alone, self.flooded
        per_s_alone = a.honest_admitted / a.seconds if a.seconds else 0.0
        per_s_flood = f.honest_admitted / f.seconds if f.seconds else 0.0
        return {
            "honest_admitted_alone": a.honest_admitted,
            "honest_admitted_flooded": f.honest_admitted,
            "count_ratio": round(f.honest_admitted / a.honest_admitted, 3)
            if a.honest_admitted
            else 0.0,
            "honest_per_s_alone": round(per_s_alone),
            "honest_per_s_flooded": round(per_s_flood),
            "throughput_ratio": round(per_s_flood / per_s_alone, 3) if per_s_alone else 0.0,
            "flood_sent": f.flood_sent,
            "flood_admitted": f.flood_admitted,
            "flood_rate_limited": f.flood_limited,
            # Every acknowledgement held: each admitted envelope is stored, once.
            "acked": a.acked + f.acked,
            "acked_but_missing": a.acked_but_missing + f.acked_but_missing,
            "stored_twice": a.stored_twice + f.stored_twice,
            "recovery_s": 0.0,  # nothing goes away: the honest devices never stop
        }


def _phase(honest: int, per_second: int, seconds: int, flood_per_second: int, tmp: Path) -> Phase:
    clock = FixedClock(START)
    platform = build(Settings(data_dir=tmp), clock=clock)
    # The sample city's projects, consulted and approved on its replayed history.
    register_projects(platform.registry)
    devices = enrol(platform.registry, [f"honest-{i:03d}" for i in range(honest)])
    [flooder] = enrol(platform.registry, ["flooder"])
    seqs: dict[str, int] = {}

    def envelope(s: DeviceSigner, at: datetime) -> bytes:
        seqs[s.device_id] = seqs.get(s.device_id, 0) + 1
        units = {"pm25": "ug/m3", "no2": "ug/m3"}
        reading = SimReading("air.quality", at, {"pm25": 9.0, "no2": 20.0}, units)
        return s.envelope(seqs[s.device_id], at, [reading])

    rounds = []
    for second in range(seconds):
        at = START + timedelta(seconds=second)
        bodies = [envelope(s, at) for s in devices for _ in range(per_second)]
        bodies += [envelope(flooder, at) for _ in range(flood_per_second)]
        rounds.append(bodies)
    honest_admitted = flood_admitted = flood_limited = 0
    acked: set[tuple[str, int]] = set()
    elapsed = 0.0
    for bodies in rounds:
        t0 = time.perf_counter()
        outs = platform.gate.ingest(bodies)
        elapsed += time.perf_counter() - t0
        for o in outs:
            if o.rejection is None and o.admitted and o.device_id and o.seq is not None:
                acked.add((o.device_id, o.seq))
            if o.device_id == flooder.device_id:
                flood_admitted += o.admitted
                limited = o.rejection is not None and o.rejection.reason is Reason.RATE_LIMITED
                flood_limited += limited
            else:
                honest_admitted += o.admitted
        clock.advance(timedelta(seconds=1))
    stored = _stored(platform)
    platform.close()
    return Phase(
        honest * per_second * seconds,
        honest_admitted,
        elapsed,
        flood_per_second * seconds,
        flood_admitted,
        flood_limited,
        len(acked),
        len(acked - set(stored)),
        sum(n - 1 for n in stored.values() if n > 1),
    )


def _stored(platform: Platform) -> Counter[tuple[str, int]]:
    """Rows per envelope (device, seq); an envelope here carries one reading."""
    engine = platform.store.engine  # type: ignore[attr-defined]
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT device_id, seq, count(*) FROM readings GROUP BY 1, 2")
        return Counter({(r[0], int(r[1])): int(r[2]) for r in rows})


def run_flood(
    honest: int = 50,
    per_second: int = 5,
    seconds: int = 10,
    flood_per_second: int = 2000,
    progress: Callable[[str], None] | None = None,
) -> FloodResult:
    say = progress or (lambda _m: None)
    with tempfile.TemporaryDirectory(prefix="charter-flood-") as tmp:
        say(f"{honest} honest devices alone, {per_second} envelopes/s each, {seconds} s")
        alone = _phase(honest, per_second, seconds, 0, Path(tmp) / "alone")
        say(f"the same beside one device sending {flood_per_second} envelopes/s")
        flooded = _phase(honest, per_second, seconds, flood_per_second, Path(tmp) / "flood")
    return FloodResult(alone, flooded)
