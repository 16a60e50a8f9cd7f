"""create_app: the web application over a Platform."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from charter import __version__
from charter.api import problems
from charter.api.deps import PlatformDep
from charter.api.metrics import GateMetrics
from charter.api.routers import access, data, ingest, ledger, registry, residents, retention
from charter.bootstrap import Platform


def create_app(platform: Platform, metrics: GateMetrics | None = None) -> FastAPI:
    app = FastAPI(
        title="Charter",
        version=__version__,
        description="A city data platform that enforces residents' rights in its data path.",
    )
    app.state.platform = platform
    if metrics is None:
        metrics = GateMetrics()
        platform.gate.observer = metrics
    app.state.metrics = metrics
    problems.install(app)
    for router in (ingest.router, registry.router, data.router, ledger.router):
        app.include_router(router)
    for router in (residents.router, access.router, retention.router):
        app.include_router(router)

    @app.get("/health", tags=["ops"])
    def health(p: PlatformDep) -> dict[str, Any]:
        return {"status": "ok", "version": __version__, "ledger_size": p.ledger.size}

    @app.get("/metrics", tags=["ops"])
    def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.middleware("http")
    async def security_headers(request: Any, call_next: Any) -> Any:
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response

    return app
