"""create_app: the web application over a Platform."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, generate_latest

from charter import __version__
from charter.api import problems
from charter.api.body_limit import BodyLimit
from charter.api.deps import PlatformDep
from charter.api.metrics import GateMetrics
from charter.api.routers import (
    access,
    alerts,
    data,
    ingest,
    ledger,
    register,
    registry,
    report,
    residents,
    retention,
    security,
    services,
)
from charter.bootstrap import Platform
from charter.ngsild import api as ngsild_api
from charter.portal import mount as mount_portal
from charter.portal import refusal_page
from charter.security.collector import SecurityCollector


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
    metrics.registry.register(SecurityCollector(platform.security.bulk_reads))
    app.add_middleware(
        BodyLimit,
        max_bytes=platform.settings.max_request_bytes,
        body_timeout_s=platform.settings.http_body_timeout_s,
        page=refusal_page,
    )
    storage_errors = Counter(
        "charter_storage_errors",
        "Requests refused 503 because the store could not take a write (disk full, away)",
        ["error"],
        registry=metrics.registry,
    )
    problems.install(app, on_storage_error=lambda kind: storage_errors.labels(kind).inc())
    routers = (
        ingest.router,
        registry.router,
        data.router,
        ledger.router,
        security.router,
        register.router,
        report.router,
        residents.router,
        access.router,
        retention.router,
        services.router,
        alerts.router,
    )
    for router in routers:
        app.include_router(router, responses=problems.COMMON_PROBLEMS)
    ngsild_api.install(app)
    mount_portal(app)  # the web portal's pages at / and its files at /static

    @app.get("/health", tags=["ops"])
    def health(p: PlatformDep) -> dict[str, Any]:
        return {"status": "ok", "version": __version__, "ledger_size": p.ledger.size}

    @app.get(
        "/metrics",
        tags=["ops"],
        response_class=Response,
        responses={
            200: {
                "description": "Prometheus text exposition format",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            }
        },
    )
    def prometheus() -> Response:
        body = generate_latest(metrics.registry)
        body += generate_latest(platform.services.metrics.registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    @app.middleware("http")
    async def security_headers(request: Any, call_next: Any) -> Any:
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response

    return app
