"""POST /ingest: a device's signed envelope, acknowledged only after commit."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from charter.api.deps import PlatformDep
from charter.api.problems import problem
from charter.domain.reasons import Reason
from charter.security.ratelimit import retry_after

router = APIRouter(tags=["ingest"])


@router.post(
    "/ingest",
    summary="Send a signed envelope of readings",
    responses={200: {"description": "Committed; per-reading decisions in the body"}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
async def ingest(request: Request, p: PlatformDep) -> JSONResponse:
    limit = p.settings.max_envelope_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return problem(Reason.ENVELOPE_TOO_LARGE, f"at most {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return problem(Reason.ENVELOPE_TOO_LARGE, f"at most {limit} bytes")
    outcome = (await run_in_threadpool(p.gate.ingest, [bytes(body)]))[0]
    if outcome.rejection is not None:
        ack: dict[str, Any] = outcome.to_json()  # carries reason and stage already
        if outcome.rejection.reason is Reason.RATE_LIMITED:
            ack["retry_after"] = retry_after(outcome.rejection.detail)
        return problem(
            outcome.rejection.reason,
            outcome.rejection.detail,
            **{k: v for k, v in ack.items() if k != "reason"},
        )
    return JSONResponse(outcome.to_json())
