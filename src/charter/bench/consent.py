"""`charter bench consent`: what the consent stage costs the gate.

A stream in which half the readings are personal (crossing requests from
residents' fobs) and half are not (traffic counts), against a register of many
residents with mixed consents: none, valid, expired, withdrawn, or for another
project. The same stream runs through the gate with the consent stage and with
it switched off, interleaved chunk by chunk in the same run and the same store,
so that neither side profits from a warmer cache or a smaller table. With the
stage off, personal readings are still pseudonymised and encrypted (that is the
minimise stage's work): the difference is the consent decision alone.
"""

from __future__ import annotations

import json
import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from charter.bench.seed import enrol
from charter.bootstrap import Platform, build
from charter.device import SimReading
from charter.domain.clock import to_ms
from charter.domain.model import Actor, urn
from charter.gate.batch import Batch
from charter.settings import Settings
from charter.sim.city import AIR, TRAFFIC, register_projects
from charter.store import schema as s

BENCH = Actor(name="bench", role="operator")
CROSSING = "pedestrian.crossing_request"
DAY_MS = 24 * 3600 * 1000


@dataclass
class ConsentResult:
    readings: int
    residents: int
    with_seconds: float
    without_seconds: float
    admitted_personal_with: int
    admitted_personal_without: int
    stage_seconds: float = 0.0  # time inside the consent stage itself

    def to_json(self) -> dict[str, float]:
        on = self.readings / self.with_seconds
        off = self.readings / self.without_seconds
        return {
            "readings_per_s": round(on),
            "without_consent_stage_per_s": round(off),
            "ratio": round(on / off, 3),
        }


def _seed_residents(platform: Platform, n: int, say: Callable[[str], None]) -> list[str]:
    """Residents, their fob links and mixed consents, written in bulk."""
    say(f"enrolling {n} residents with mixed consents")
    ctx = platform.rights.ctx
    now = to_ms(platform.clock.now())
    ids = [urn("Person", f"bench{i:07d}") for i in range(n)]
    fobs = [f"FOB-{i:07d}" for i in range(n)]
    version = ctx.pseudonyms.current_version
    consents: list[dict[str, Any]] = []
    for i, rid in enumerate(ids):
        kind = i % 5  # 0 none, 1 valid, 2 expired, 3 withdrawn, 4 other project only
        if kind == 0:
            continue
        consents.append(
            {
                "id": f"bench-{i}",
                "resident_id": rid,
                "category": CROSSING,
                "purpose": "crossing-assistance",
                "projects": json.dumps([AIR if kind == 4 else TRAFFIC]),
                "granted_at": now - DAY_MS,
                "expires_at": now - 1 if kind == 2 else None,
                "withdrawn_at": now - 1 if kind == 3 else None,
                "method": "bench",
            }
        )
    with platform.store.transaction() as tx:
        conn = tx.conn  # type: ignore[attr-defined]
        conn.execute(
            s.residents.insert(),
            [{"id": r, "created_at": now, "status": "active", "erased_at": None} for r in ids],
        )
        conn.execute(
            s.identifier_links.insert(),
            [
                {
                    "digest": ctx.pseudonyms.digest(f)[1],
                    "key_version": version,
                    "resident_id": r,
                    "kind": "fob",
                    "created_at": now,
                }
                for r, f in zip(ids, fobs, strict=True)
            ],
        )
        conn.execute(s.consents.insert(), consents)
        tx.bump_rights_version()
    ctx.keys.create_resident_keys(ids, now)
    ctx.index.reload()
    ctx.keys.preload()
    return fobs


def _no_consent_stage(batch: Batch) -> None:
    return None


def run_consent(
    residents: int = 100_000,
    envelopes: int = 1000,
    envelope_size: int = 100,
    batch: int = 10,
    devices: int = 50,
    progress: Callable[[str], None] | None = None,
) -> ConsentResult:
    say = progress or (lambda _m: None)
    if devices < batch:
        raise ValueError("need at least as many devices as envelopes per batch")
    rng = random.Random(7)
    with tempfile.TemporaryDirectory(prefix="charter-bench-consent-") as tmp:
        platform = build(Settings(data_dir=Path(tmp)))
        reg = platform.registry
        # The sample city's projects, consulted and approved on its replayed history.
        register_projects(reg)
        signers = enrol(
            reg,
            [f"bench-x-{i:04d}" for i in range(devices)],
            project=TRAFFIC,
            categories=("traffic.count", CROSSING),
            modality="crossing",
        )
        fobs = _seed_residents(platform, residents, say)
        say(f"signing 2 x {envelopes} envelopes of {envelope_size} readings (half personal)")
        now = datetime.now(UTC)
        streams: list[list[bytes]] = [[], []]
        for e in range(envelopes):
            readings = []
            for j in range(envelope_size):
                t = now - timedelta(milliseconds=envelope_size - j)
                if j % 2:
                    fob = fobs[rng.randrange(len(fobs))]
                    readings.append(
                        SimReading(CROSSING, t, {"fob": fob, "extra_seconds": 5 + j % 20})
                    )
                else:
                    readings.append(
                        SimReading("traffic.count", t, {"vehicles": j % 40}, {"vehicles": "count"})
                    )
            signer = signers[e % devices]
            seq = e // devices + 1
            # The side without the stage runs first in each chunk: it takes the odd numbers.
            streams[1].append(signer.envelope(2 * seq - 1, now, readings))
            streams[0].append(signer.envelope(2 * seq, now, readings))
        gate = platform.gate
        with_stage = list(gate.stages)
        stage_time = [0.0]
        consent = gate.consent_stage

        def timed_consent(b: Batch) -> None:
            t = time.perf_counter()
            consent(b)
            stage_time[0] += time.perf_counter() - t

        with_stage = [timed_consent if st is consent else st for st in with_stage]
        without_stage = [_no_consent_stage if st is consent else st for st in gate.stages]
        seconds = [0.0, 0.0]
        personal = [0, 0]
        say("running the gate: consent stage off and on, chunk by chunk")
        # Off first within each pair: the consent side always meets the larger table.
        for i in range(0, envelopes, batch):
            for side, stages in ((1, without_stage), (0, with_stage)):
                gate.stages = stages
                t0 = time.perf_counter()
                outs = gate.ingest(streams[side][i : i + batch])
                seconds[side] += time.perf_counter() - t0
                personal[side] += sum(o.admitted for o in outs)
        gate.stages = [consent if st is timed_consent else st for st in with_stage]
        platform.close()
    half = envelopes * envelope_size // 2
    return ConsentResult(
        envelopes * envelope_size,
        residents,
        seconds[0],
        seconds[1],
        personal[0] - half,
        personal[1] - half,
        stage_time[0],
    )


def report(
    residents: int, envelopes: int, envelope_size: int, *, as_json: bool, console: Console
) -> None:
    result = run_consent(
        residents, envelopes, envelope_size, progress=lambda m: console.print(f"[dim]{m}[/dim]")
    )
    figures = result.to_json()
    table = Table(
        title=f"consent: {result.readings} readings per side, half personal, "
        f"{result.residents} residents"
    )
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("gate with consent stage, readings/s", f"{figures['readings_per_s']:,}")
    table.add_row(
        "same stream, consent stage off, readings/s (the limit)",
        f"{figures['without_consent_stage_per_s']:,}",
    )
    table.add_row("ratio (target >= 0.85)", f"{figures['ratio']}")
    table.add_row("personal readings admitted with consent", f"{result.admitted_personal_with:,}")
    table.add_row("personal readings admitted, stage off", f"{result.admitted_personal_without:,}")
    share = 100 * result.stage_seconds / result.with_seconds
    table.add_row("time inside the consent stage (share of gate time)", f"{share:.1f}%")
    console.print(table)
    console.print(
        "[dim]With the stage off every personal reading is admitted, so that side also "
        "encrypts and stores more rows; the stage's own share is the cost of the decision.[/dim]"
    )
    if as_json:
        print(json.dumps(figures))
