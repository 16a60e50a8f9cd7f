"""`charter bench portal`: server time per portal page at the demo's scale.

The sample city as `charter demo` seeds it, with 1 000 devices, its register's
story and its residents, and at least 100 000 readings stored through the gate.
Each page is then requested in process (the ASGI app, every middleware, no
network) and timed inside the server, from the app's call to its last byte sent;
a no-op route on the same app, measured in the same run, is the floor every page
stands on.
"""

from __future__ import annotations

import json
import re
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.responses import Response
from rich.console import Console
from rich.table import Table

from charter.api.app import create_app
from charter.bootstrap import Platform, build
from charter.device import SimReading
from charter.domain.model import Actor
from charter.settings import Settings
from charter.sim import city as sample
from charter.sim import demo_residents
from charter.sim.demo_register import show_register

with warnings.catch_warnings():
    # Starlette would rather have httpx2; httpx is what Charter ships with (pyproject).
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

TARGET_P95_MS = 100.0
NOOP = "/_bench/noop"
BENCH = Actor(name="bench-desk", role="operator")


def _readings(platform: Platform, city: sample.City, total: int, per_envelope: int) -> int:
    """Honest air-quality readings from the city's own stations, through the gate."""
    stations = city.by_kind("air")
    now = datetime.now(UTC)
    admitted, sent, batch = 0, 0, []
    while sent < total:
        d = stations[(sent // per_envelope) % len(stations)]
        d.seq += 1
        readings = [
            SimReading(
                "air.quality",
                now - timedelta(milliseconds=per_envelope - j),
                {"pm25": 8.0 + (j % 23), "no2": 18.5 + j % 7},
                {"pm25": "ug/m3", "no2": "ug/m3"},
            )
            for j in range(per_envelope)
        ]
        batch.append(d.signer.envelope(d.seq, now, readings))
        sent += per_envelope
        if len(batch) == 20:
            admitted += sum(o.admitted for o in platform.gate.ingest(batch))
            batch = []
    if batch:
        admitted += sum(o.admitted for o in platform.gate.ingest(batch))
    return admitted


def _quantiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"p50_ms": round(statistics.median(ordered), 2), "p95_ms": round(p95, 2)}


class ServerTime:
    """ASGI wrapper: how long the app took for the last request, from its call to its
    last byte sent (the test client's own threads and copies are not counted)."""

    def __init__(self, app: Any) -> None:
        self.app, self.last_ms = app, 0.0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        t = time.perf_counter()
        await self.app(scope, receive, send)
        self.last_ms = (time.perf_counter() - t) * 1000


def _time(client: TestClient, timer: ServerTime, path: str, rounds: int) -> list[float]:
    client.get(path)  # warm: the first request fills the caches a server keeps
    out = []
    for _ in range(rounds):
        r = client.get(path)
        if r.status_code != 200:
            raise RuntimeError(f"{path} answered {r.status_code}")
        out.append(timer.last_ms)
    return out


def pages(platform: Platform, resident_token: str) -> dict[str, str]:
    """The pages measured: the map, a project, a consultation, a resident's access
    history and the ledger."""
    resident = platform.security.tokens.verify(resident_token).actor.subject
    return {
        "map": "/map",
        "project": f"/city/projects/{sample.TRAFFIC}",
        "consultation": f"/city/consultations/{sample.FLOOD}",
        "access_history": f"/me/{resident}/access",
        "ledger": "/city/ledger",
    }


def sign_in(client: TestClient, token: str) -> None:
    """The portal's own sign-in form, with its CSRF token."""
    found = re.search(r'name="csrf" value="([^"]+)"', client.get("/signin").text)
    if found is None:
        raise RuntimeError("the sign-in page has no CSRF field")
    r = client.post(
        "/signin",
        data={"csrf": found.group(1), "token": token, "next": "/"},
        follow_redirects=False,
    )
    if r.status_code != 303:
        raise RuntimeError(f"signing in answered {r.status_code}")


def run_portal(
    devices: int = 1000,
    readings: int = 100_000,
    rounds: int = 60,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    say = progress or (lambda _m: None)
    with tempfile.TemporaryDirectory(prefix="charter-bench-portal-") as tmp:
        platform = build(Settings(data_dir=Path(tmp) / "data"))
        try:
            say(f"seeding the sample city with {devices} devices")
            city = sample.seed(platform.registry, devices)
            show_register(platform)
            tokens = demo_residents.show(platform, city, lambda _m: None)
            say(f"storing {readings:,} readings through the gate")
            stored = _readings(platform, city, readings, 100)
            # Aiko's access history: the crossing app reads under its grant, often.
            app = Actor(
                name="crossing-app", role="consumer", subject="urn:ngsi-ld:Consumer:crossing-app"
            )
            req = platform.rights.access.request(
                app,
                dataset=sample.TRAFFIC,
                categories=[demo_residents.CROSSING],
                purpose=demo_residents.PURPOSE,
                why="bench",
            )
            grant = platform.rights.access.decide(
                req.id, BENCH, grant=True, why="bench", expires_at=datetime.now(UTC) + timedelta(1)
            ).grant
            assert grant is not None
            for _ in range(200):
                platform.rights.access.read(
                    app, grant, category=demo_residents.CROSSING, purpose=demo_residents.PURPOSE
                )
            app_ = create_app(platform)
            app_.add_api_route(NOOP, lambda: Response(b"", media_type="text/plain"))
            paths = pages(platform, tokens["resident aiko"])
            figures: dict[str, Any] = {"pages": {}}
            timer = ServerTime(app_)
            with TestClient(timer, base_url="http://127.0.0.1") as client:
                sign_in(client, tokens["resident aiko"])
                say(f"timing {len(paths)} pages, {rounds} requests each")
                figures["noop_baseline"] = _quantiles(_time(client, timer, NOOP, rounds))
                for name, path in paths.items():
                    figures["pages"][name] = _quantiles(_time(client, timer, path, rounds))
            figures["worst_p95_ms"] = max(p["p95_ms"] for p in figures["pages"].values())
            figures["target_p95_ms"] = TARGET_P95_MS
            figures["devices"] = len(platform.store.list_devices())
            figures["readings"] = stored
            return figures
        finally:
            platform.close()


def report(devices: int, readings: int, rounds: int, *, as_json: bool, console: Console) -> None:
    figures = run_portal(
        devices, readings, rounds, progress=lambda m: console.print(f"[dim]{m}[/dim]")
    )
    table = Table(
        title=f"portal: server time per page, {figures['devices']:,} devices, "
        f"{figures['readings']:,} readings"
    )
    table.add_column("page")
    table.add_column("p50 ms", justify="right")
    table.add_column("p95 ms", justify="right")
    for name, q in figures["pages"].items():
        table.add_row(name.replace("_", " "), f"{q['p50_ms']:.1f}", f"{q['p95_ms']:.1f}")
    base = figures["noop_baseline"]
    table.add_row("no-op route (baseline)", f"{base['p50_ms']:.1f}", f"{base['p95_ms']:.1f}")
    table.add_row("target", "", f"<= {TARGET_P95_MS:.0f}")
    console.print(table)
    if as_json:
        print(json.dumps(figures))
