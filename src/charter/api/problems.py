"""Errors as application/problem+json (RFC 9457), each with its reason code."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from charter.domain.errors import CharterError
from charter.domain.reasons import Reason
from charter.store.failure import storage_unavailable

log = logging.getLogger(__name__)
STORAGE_RETRY_AFTER_S = 5

STATUS: dict[Reason, int] = {
    Reason.MALFORMED_JSON: 400,
    Reason.INVALID_ENVELOPE: 400,
    Reason.TOO_DEEP: 400,
    Reason.NON_FINITE: 400,
    Reason.EMPTY_ENVELOPE: 400,
    Reason.ENVELOPE_TOO_LARGE: 413,
    Reason.TOO_MANY_READINGS: 413,
    Reason.NOT_REGISTERED: 401,
    Reason.BAD_SIGNATURE: 401,
    Reason.REPLAYED_SEQUENCE: 409,
    Reason.STALE_TIMESTAMP: 422,
    Reason.FUTURE_TIMESTAMP: 422,
    Reason.DEVICE_SUSPENDED: 403,
    Reason.DEVICE_REVOKED: 403,
    Reason.VENDOR_UNTRUSTED: 403,
    Reason.PROJECT_NOT_LIVE: 403,
    Reason.REGISTRATION_ENDED: 403,
    Reason.UNAUTHENTICATED: 401,
    Reason.FORBIDDEN: 403,
    Reason.NOT_FOUND: 404,
    Reason.CONFLICT: 409,
    Reason.VALIDATION_FAILED: 422,
    Reason.INVALID_TRANSITION: 409,
    Reason.NOT_REPLAYABLE: 409,
    Reason.METHOD_NOT_ALLOWED: 405,
    Reason.DISCLOSURE_INCOMPLETE: 422,
    Reason.PROHIBITED_USE: 422,
    Reason.CONSULTATION_NOT_OVER: 409,
    Reason.THEMES_UNANSWERED: 409,
    Reason.CONSULTATION_CLOSED: 409,
    Reason.BACKDATED: 409,
    Reason.RATE_LIMITED: 429,
    Reason.KEY_REVOKED: 401,
    Reason.KEY_EXPIRED: 401,
    Reason.TOKEN_EXPIRED: 401,
    Reason.WRONG_AUDIENCE: 401,
    Reason.PURPOSE_NOT_GRANTED: 403,
    Reason.NEEDS_SECOND_PERSON: 403,
    Reason.SAME_PERSON: 403,
    Reason.BULK_READ_REFUSED: 403,
    Reason.REQUEST_TOO_LARGE: 413,
    Reason.REQUEST_TIMEOUT: 408,
    Reason.STORAGE_UNAVAILABLE: 503,
    Reason.CONSENT_WITHDRAWN: 409,
    Reason.GRANT_INVALID: 403,
    Reason.ALREADY_ERASED: 410,
}

_TOKEN_REASONS = {"UNAUTHENTICATED", "TOKEN_EXPIRED", "WRONG_AUDIENCE"}
PROBLEM_TYPE = "https://charter.example.city/problems/"


def problem(
    reason: Reason, detail: str = "", *, http_status: int | None = None, **extra: Any
) -> JSONResponse:
    status = http_status or STATUS.get(reason, 422)
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE + reason.value.lower().replace("_", "-"),
        "title": reason.sentence,
        "status": status,
        "reason": reason.value,
        "detail": detail or reason.sentence,
        **extra,
    }
    headers: dict[str, str] | None = None
    if STATUS.get(reason) == 401 and reason.value in _TOKEN_REASONS:
        headers = {"WWW-Authenticate": "Bearer"}
    if reason is Reason.RATE_LIMITED:
        headers = {"Retry-After": str(extra.get("retry_after", 1))}
    if reason is Reason.STORAGE_UNAVAILABLE:
        headers = {"Retry-After": str(STORAGE_RETRY_AFTER_S)}
    return JSONResponse(
        body, status_code=status, media_type="application/problem+json", headers=headers
    )


def install(app: FastAPI, on_storage_error: Callable[[str], None] = lambda _k: None) -> None:
    async def _storage(_req: Request, exc: Exception) -> JSONResponse:
        # A full disk or a database away: nothing was committed; try again later.
        # Anything else is a bug and stays a 500.
        if not storage_unavailable(exc):
            raise exc
        on_storage_error(type(exc).__name__)
        log.warning("storage unavailable: %s", type(exc).__name__)
        return problem(Reason.STORAGE_UNAVAILABLE, "nothing was stored; retry later")

    app.add_exception_handler(OperationalError, _storage)
    app.add_exception_handler(OSError, _storage)

    @app.exception_handler(CharterError)
    async def _charter(_req: Request, exc: CharterError) -> JSONResponse:
        extra = dict(getattr(exc, "extra", {}))
        errors = getattr(exc, "errors", None)
        if errors:
            extra["errors"] = errors
        return problem(exc.reason, exc.detail, **extra)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_req: Request, exc: RequestValidationError) -> JSONResponse:
        # Field paths and messages only: the submitted values are never echoed.
        errors = [
            {"field": ".".join(str(p) for p in e.get("loc", ())), "message": e.get("msg", "")}
            for e in exc.errors()
        ]
        return problem(Reason.VALIDATION_FAILED, "the request body is not valid", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_req: Request, exc: StarletteHTTPException) -> JSONResponse:
        reason = _BY_STATUS.get(exc.status_code, Reason.VALIDATION_FAILED)
        resp = problem(reason, str(exc.detail), http_status=exc.status_code)
        for name, value in (exc.headers or {}).items():
            resp.headers[name] = value
        return resp


_BY_STATUS = {
    401: Reason.UNAUTHENTICATED,
    403: Reason.FORBIDDEN,
    404: Reason.NOT_FOUND,
    405: Reason.METHOD_NOT_ALLOWED,
}


PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status", "reason", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "reason": {"type": "string", "enum": [r.value for r in Reason]},
        "detail": {"type": "string"},
    },
}


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI responses for the problems a route can answer with (RFC 9457)."""
    return {
        status: {
            "description": "A problem (RFC 9457) naming its reason code",
            "content": {"application/problem+json": {"schema": PROBLEM_SCHEMA}},
        }
        for status in statuses
    }


# Every route may answer these: authentication, roles, limits, validation.
COMMON_PROBLEMS = documented(400, 401, 403, 404, 405, 408, 409, 413, 422, 429, 503)
