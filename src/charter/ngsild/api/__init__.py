"""The NGSI-LD HTTP interface under /ngsi-ld/v1 (GS CIM 009 v1.8).

`install(app)` adds the routers and the error handler (ProblemDetails with the
NGSI-LD error types). Each module here is one resource family; a new one adds
its router to `ROUTERS`.
"""

from __future__ import annotations

import logging

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from charter.ngsild.api import batch, entities
from charter.ngsild.api.common import TENANT_HEADER
from charter.ngsild.api.preconditions import preconditions
from charter.ngsild.errors import ErrorType, NgsiError

log = logging.getLogger(__name__)

PREFIX = "/ngsi-ld/v1"
ROUTERS = [entities.router, batch.router]

from charter.ngsild.api import (  # noqa: E402
    contexts,
    discovery,
    ngsiq,
    subscriptions,
    temporal,
)

# In the order one router had them: ping and query, subscriptions, temporal, discovery, @contexts.
ROUTERS += [ngsiq.router, subscriptions.router, temporal.router, discovery.router, contexts.router]


def problem_response(exc: NgsiError, tenant: str | None = None) -> Response:
    """The error as ProblemDetails; 411 bare (6.3.4); the request's tenant echoed (6.3.14)."""
    headers = dict(exc.headers)
    if tenant:
        headers[TENANT_HEADER] = tenant
    if exc.status == 411:
        return Response(status_code=411, headers=headers)
    return JSONResponse(
        exc.problem(), status_code=exc.status, headers=headers, media_type="application/json"
    )


def install(app: FastAPI) -> None:
    async def _ngsi(req: Request, exc: Exception) -> Response:
        assert isinstance(exc, NgsiError)
        return problem_response(exc, req.headers.get(TENANT_HEADER))

    app.add_exception_handler(NgsiError, _ngsi)

    async def _internal(req: Request, exc: Exception) -> Response:
        # Under /ngsi-ld a bug is still a ProblemDetails (InternalError); elsewhere Starlette's 500.
        log.error("unhandled error on %s: %s", req.url.path, type(exc).__name__)
        if req.url.path.startswith(PREFIX):
            return problem_response(NgsiError(ErrorType.INTERNAL_ERROR, "internal error"))
        return PlainTextResponse("Internal Server Error", status_code=500)

    app.add_exception_handler(Exception, _internal)
    _ = app.state.platform.ngsild  # wired now: the readings bridge listens from the start
    ngsiq.install(app)  # subscriptions listen from the start, in every process
    for router in ROUTERS:
        app.include_router(router, prefix=PREFIX, dependencies=[Depends(preconditions)])
