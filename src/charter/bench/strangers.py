"""Benchmark: strangers send huge envelopes; how long do honest devices wait?

Honest devices send small envelopes one at a time and time each acknowledgement
(`Gate.ingest` returns after the commit), first alone, then while `strangers`
threads keep sending envelopes of about `stranger_bytes` each from devices
that are not on the register. Such an envelope is refused on its header
(`NOT_REGISTERED`): it should cost a scan and a look-up, outside the gate's
commit lock, so the honest latency should barely move. Both phases run on the
same platform; the gate's clock is fixed, so every envelope is on time.
"""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from charter.bench.seed import enrol
from charter.bootstrap import build
from charter.device import DeviceSigner, SimReading
from charter.domain.clock import FixedClock
from charter.domain.model import urn
from charter.settings import Settings
from charter.sim.city import register_projects

START = datetime(2026, 1, 1, tzinfo=UTC)
_UNITS = {"pm25": "ug/m3", "no2": "ug/m3"}


def _huge(signer: DeviceSigner, size: int, readings: int = 10_000) -> bytes:
    """An envelope of about `size` bytes: as many readings as the gate allows, padded."""
    bare = SimReading("air.quality", START, {"pm25": 9.0, "no2": 20.0}, _UNITS)
    pad = max(0, size // readings - len(msgspec.json.encode(bare.to_wire())) - 12)
    values = {"pm25": 9.0, "no2": 20.0, "note": "x" * pad}
    return signer.envelope(1, START, [SimReading("air.quality", START, values, _UNITS)] * readings)


def run_strangers(
    honest_envelopes: int = 300,
    strangers: int = 4,
    stranger_bytes: int = 1_350_000,
    progress: Callable[[str], None] | None = None,
) -> dict[str, float | int]:
    say = progress or (lambda _m: None)
    with tempfile.TemporaryDirectory(prefix="charter-strangers-") as tmp:
        platform = build(Settings(data_dir=Path(tmp)), clock=FixedClock(START))
        register_projects(platform.registry)
        [honest] = enrol(platform.registry, ["honest"])
        reading = SimReading("air.quality", START, {"pm25": 9.0, "no2": 20.0}, _UNITS)
        bodies = [honest.envelope(i + 1, START, [reading]) for i in range(2 * honest_envelopes)]
        huge = [_huge(DeviceSigner(urn("Device", "stranger")), stranger_bytes)]
        sent, stranger_s = [0], [0.0]

        def honest_latencies(chunk: list[bytes]) -> list[float]:
            out = []
            for body in chunk:
                t = time.perf_counter()
                platform.gate.ingest([body])
                out.append((time.perf_counter() - t) * 1000)
            return out

        def stranger(stop: threading.Event) -> None:
            while not stop.is_set():
                t = time.perf_counter()
                platform.gate.ingest(huge)
                stranger_s[0] += time.perf_counter() - t
                sent[0] += 1

        say(f"{honest_envelopes} honest envelopes alone")
        alone = honest_latencies(bodies[:honest_envelopes])
        say(f"the same beside {strangers} strangers sending {len(huge[0]):,}-byte envelopes")
        stop = threading.Event()
        threads = [threading.Thread(target=stranger, args=(stop,)) for _ in range(strangers)]
        for th in threads:
            th.start()
        flooded = honest_latencies(bodies[honest_envelopes:])
        stop.set()
        for th in threads:
            th.join()
        refused = platform.store.rejections_by_reason().get("NOT_REGISTERED", 0)
        platform.close()
    p50_alone, p50_flooded = statistics.median(alone), statistics.median(flooded)
    p99_alone, p99_flooded = (statistics.quantiles(x, n=100)[98] for x in (alone, flooded))
    return {
        "honest_p50_ms_alone": round(p50_alone, 2),
        "honest_p50_ms_flooded": round(p50_flooded, 2),
        "p50_ratio": round(p50_flooded / p50_alone, 2) if p50_alone else 0.0,
        "honest_p99_ms_alone": round(p99_alone, 2),
        "honest_p99_ms_flooded": round(p99_flooded, 2),
        "p99_ratio": round(p99_flooded / p99_alone, 2) if p99_alone else 0.0,
        "stranger_ms_each": round(1000 * stranger_s[0] / sent[0], 2) if sent[0] else 0.0,
        "stranger_envelopes": sent[0],
        "stranger_bytes": len(huge[0]),
        "strangers_refused": refused,  # NOT_REGISTERED, one per envelope
    }
