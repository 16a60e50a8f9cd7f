"""`charter bench ngsi-ld`: a running Charter server driven over HTTP on loopback.

A fresh data directory, `charter serve` in its own process, and one client process with
`concurrency` connections (asyncio + httpx, keep-alive).  At 10 000 entities: entity
creations/s (POST /entities), single attribute updates/s (PATCH /entities/{id}/attrs/{attr}),
queries/s and p95 by type and by q; then batch upserts (POST /entityOperations/upsert, 1000 a
batch) to 100 000 entities, and the same queries at 100 000.  In the same run, with the same
client, the server's no-op route (GET /ngsi-ld/v1/ping: the same middleware and token check,
no work) gives the framework's own ceiling, and after the run the batch-upserted entities'
rows inserted alone into a fresh store give the storage's (charter.bench.ngsild_floor).  The
client and the server share this machine's cores: every figure includes the client's cost.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from charter.bench.ngsild_floor import storage_floor

Say = Callable[[str], None]
TYPE = "BenchSensor"
CONTEXT = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"
Q = 'temperature>25;health=="ok"'
BATCH = 1000  # entities a batch upsert


def _entity_id(i: int) -> str:
    return f"urn:ngsi-ld:{TYPE}:{i:07d}"


def _entity(i: int) -> dict[str, Any]:
    rnd = random.Random(i)
    return {
        "id": _entity_id(i),
        "type": TYPE,
        "temperature": {"type": "Property", "value": round(rnd.uniform(0, 40), 2)},
        "health": {"type": "Property", "value": "ok" if rnd.random() < 0.8 else "fault"},
        "location": {
            "type": "GeoProperty",
            "value": {
                "type": "Point",
                "coordinates": [
                    round(8.6 + rnd.random() / 10, 6),
                    round(49.4 + rnd.random() / 10, 6),
                ],
            },
        },
    }


@dataclass
class Phase:
    requests: int = 0
    items: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    statuses: dict[str, int] = field(default_factory=dict)  # of the failed requests

    @property
    def per_s(self) -> float:
        return self.items / self.seconds if self.seconds else 0.0

    @property
    def p95_ms(self) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] * 1000, 2)


@dataclass
class NgsiLdResult:
    concurrency: int
    phases: dict[str, Phase] = field(default_factory=dict)
    # The batch-upserted entities' rows inserted alone into a fresh store (ngsild_floor).
    storage_floor_per_s: float = 0.0

    def to_json(self) -> dict[str, Any]:
        p = self.phases
        noop = p["noop"].per_s
        updates = p["updates_10k"].per_s
        return {
            "updates_per_s": round(updates),
            "noop_per_s": round(noop),
            "update_ratio": round(updates / noop, 3) if noop else 0.0,
            "creates_per_s": round(p["creates_10k"].per_s),
            "batch_upsert_entities_per_s": round(p["batch_upsert"].per_s),
            "batch_upsert_storage_floor_per_s": round(self.storage_floor_per_s),
            "batch_upsert_share_of_floor": (
                round(p["batch_upsert"].per_s / self.storage_floor_per_s, 3)
                if self.storage_floor_per_s
                else 0.0
            ),
            "query_p95_ms_100k": p["query_q_100k"].p95_ms,
            "query_type_p95_ms_100k": p["query_type_100k"].p95_ms,
            "query_q_p95_ms_10k": p["query_q_10k"].p95_ms,
            "query_type_p95_ms_10k": p["query_type_10k"].p95_ms,
            "queries_per_s_q_100k": round(p["rate_q_100k"].per_s),
            "queries_per_s_type_100k": round(p["rate_type_100k"].per_s),
            "query_q_p95_ms_100k_concurrent": p["rate_q_100k"].p95_ms,
            "noop_p95_ms_one_client": p["noop_1"].p95_ms,
            "update_p95_ms": p["updates_10k"].p95_ms,
            "errors": sum(ph.errors for ph in p.values()),
            "error_statuses": {
                f"{name}:{status}": n for name, ph in p.items() for status, n in ph.statuses.items()
            },
            "load_avg_1m": round(os.getloadavg()[0], 2),
        }


async def _drive(
    client: httpx.AsyncClient,
    n: int,
    concurrency: int,
    make: Callable[[int], Awaitable[httpx.Response]],
    items_per_request: int = 1,
) -> Phase:
    phase = Phase()
    counter = iter(range(n))

    async def worker() -> None:
        for i in counter:
            t = time.perf_counter()
            try:
                response = await make(i)
                ok = response.status_code < 300 or response.status_code == 207
                status = str(response.status_code)
            except httpx.HTTPError as exc:
                ok, status = False, type(exc).__name__
            phase.latencies.append(time.perf_counter() - t)
            phase.requests += 1
            if ok:
                phase.items += items_per_request
            else:
                phase.errors += 1
                phase.statuses[status] = phase.statuses.get(status, 0) + 1

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    phase.seconds = time.perf_counter() - start
    return phase


async def _queries(
    c: httpx.AsyncClient,
    result: NgsiLdResult,
    size: str,
    concurrency: int,
    by_type: Callable[[int], Awaitable[httpx.Response]],
    by_q: Callable[[int], Awaitable[httpx.Response]],
) -> None:
    """Queries/s with every connection busy; p95 latency from one client, one at a time
    (under full concurrency the p95 is the server's queue, not the query's cost)."""
    result.phases[f"query_type_{size}"] = await _drive(c, 200, 1, by_type)
    result.phases[f"query_q_{size}"] = await _drive(c, 200, 1, by_q)
    result.phases[f"rate_type_{size}"] = await _drive(c, 300, concurrency, by_type)
    result.phases[f"rate_q_{size}"] = await _drive(c, 300, concurrency, by_q)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _token(data_dir: Path) -> str:
    from charter.auth import Role
    from charter.bootstrap import build
    from charter.settings import Settings

    platform = build(Settings(data_dir=data_dir))
    try:
        return platform.security.issuer.issue("bench-ngsi-ld", Role.OPERATOR)
    finally:
        platform.store.close()


async def _run(
    base: str, token: str, small: int, large: int, concurrency: int, say: Say
) -> NgsiLdResult:
    result = NgsiLdResult(concurrency)
    headers = {"Authorization": f"Bearer {token}"}
    # Idle connections are let go before the server's keep-alive (5 s) closes them: a request
    # sent on a connection the server is closing fails as a ReadError, the client's artefact.
    limits = httpx.Limits(
        max_connections=concurrency, max_keepalive_connections=concurrency, keepalive_expiry=2.0
    )
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=60) as c:
        json_headers = {"Content-Type": "application/json"}

        async def noop(_i: int) -> httpx.Response:
            return await c.get("/ngsi-ld/v1/ping")

        async def create(i: int) -> httpx.Response:
            return await c.post("/ngsi-ld/v1/entities", json=_entity(i), headers=json_headers)

        async def update(i: int) -> httpx.Response:
            eid = _entity_id(i % small)
            body = {"type": "Property", "value": (i % 400) / 10}
            return await c.patch(
                f"/ngsi-ld/v1/entities/{eid}/attrs/temperature", json=body, headers=json_headers
            )

        async def by_type(_i: int) -> httpx.Response:
            return await c.get("/ngsi-ld/v1/entities", params={"type": TYPE, "limit": 100})

        async def by_q(_i: int) -> httpx.Response:
            return await c.get("/ngsi-ld/v1/entities", params={"type": TYPE, "q": Q, "limit": 100})

        say("no-op warm-up")
        await _drive(c, 500, concurrency, noop)
        say(f"creating {small} entities one by one")
        result.phases["creates_10k"] = await _drive(c, small, concurrency, create)
        n_updates = min(small, 5_000)
        say(f"{n_updates} single attribute updates")
        result.phases["updates_10k"] = await _drive(c, n_updates, concurrency, update)
        say("no-op rate")
        result.phases["noop"] = await _drive(c, n_updates, concurrency, noop)
        say("queries at the small size")
        await _queries(c, result, "10k", concurrency, by_type, by_q)

        batch = BATCH
        batches = max(0, (large - small) // batch)

        # The bodies are made before the clock starts: the phase times sending and the
        # server's work, not the client building 100 000 entities.
        bodies = [
            json.dumps(
                [_entity(i) for i in range(start, start + batch)], separators=(",", ":")
            ).encode()
            for start in range(small, small + batches * batch, batch)
        ]

        async def upsert(b: int) -> httpx.Response:
            return await c.post(
                "/ngsi-ld/v1/entityOperations/upsert", content=bodies[b], headers=json_headers
            )

        say(f"batch upserts to {small + batches * batch} entities")
        result.phases["batch_upsert"] = await _drive(
            c, batches, min(concurrency, 4), upsert, items_per_request=batch
        )
        say("queries at the large size")
        await _queries(c, result, "100k", concurrency, by_type, by_q)
        say("no-op latency, one client")
        result.phases["noop_1"] = await _drive(c, 200, 1, noop)
    return result


def run_ngsild(
    small: int = 10_000,
    large: int = 100_000,
    concurrency: int = 16,
    store: str | None = None,
    say: Say = lambda _m: None,
) -> NgsiLdResult:
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        token = _token(data_dir)
        port = _free_port()
        env = dict(os.environ)
        env["CHARTER_DATA_DIR"] = str(data_dir)
        env["CHARTER_PORT"] = str(port)
        if store:
            env["CHARTER_DATABASE_URL"] = store
        # One token drives every request: its rate limit (50/s by default) would measure
        # the limiter, not the server. The check still runs on each request.
        env.setdefault("CHARTER_TOKEN_RATE_PER_S", "1000000")
        env.setdefault("CHARTER_TOKEN_BURST", "1000000")
        log = open(data_dir / "server.log", "wb")  # noqa: SIM115
        server = subprocess.Popen(
            [sys.executable, "-m", "charter.cli", "serve"],
            env=env,
            cwd=data_dir,  # `-m` puts the cwd first on sys.path: a stray http.py there breaks it
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(base + "/health", timeout=2).status_code < 500:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("the server did not start (see its log)")
                time.sleep(0.2)
            result = asyncio.run(_run(base, token, small, large, concurrency, say))
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
            log.close()
        if large > small:
            say("storage floor: the upserted rows inserted alone")
            floor = storage_floor(data_dir, store, _entity_id(small), _entity_id(large), BATCH)
            result.storage_floor_per_s = floor.per_s
        return result


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0
