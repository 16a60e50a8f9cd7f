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

_READING = {
    "type": "object",
    "required": ["category", "t", "values"],
    "properties": {
        "category": {"type": "string", "minLength": 1, "maxLength": 64},
        "t": {"type": "string", "format": "date-time"},
        "values": {"type": "object"},
        "units": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}
# Documentation of the wire format (charter.domain.envelope); the gate's decoder is the
# authority and is stricter (limits on size, depth and counts from the settings).
SIGNED_ENVELOPE_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["envelope", "sig"],
    "properties": {
        "envelope": {
            "type": "object",
            "required": ["v", "device", "seq", "sent_at", "readings"],
            "properties": {
                "v": {"type": "integer", "enum": [1]},
                "device": {"type": "string", "minLength": 1, "maxLength": 200},
                "seq": {"type": "integer", "minimum": 0, "maximum": 2**62},
                "sent_at": {"type": "string", "format": "date-time"},
                "readings": {"type": "array", "minItems": 1, "items": _READING},
            },
        },
        "sig": {"type": "string", "maxLength": 128, "description": "base64 Ed25519"},
    },
}


@router.post(
    "/ingest",
    summary="Send a signed envelope of readings",
    responses={200: {"description": "Committed; per-reading decisions in the body"}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": SIGNED_ENVELOPE_SCHEMA}},
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
        # Not the device id: a refused envelope's id may be anything (an unregistered
        # name, an e-mail address), and the caller knows which envelope it sent.
        return problem(
            outcome.rejection.reason,
            outcome.rejection.detail,
            **{k: v for k, v in ack.items() if k not in ("reason", "device")},
        )
    return JSONResponse(outcome.to_json())
