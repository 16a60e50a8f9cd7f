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
    Reason.BAD_CONSTRAINT: 422,
    Reason.NO_PROOF_OF_POSSESSION: 403,
    Reason.ALREADY_ERASED: 410,
    Reason.COSIGNATURE_INVALID: 422,
    Reason.CHECKPOINT_UNKNOWN: 404,
    Reason.NO_ALGORITHM_ENTRY: 409,
    Reason.SERVICE_DATA_UNDECLARED: 422,
    Reason.ZONE_UNKNOWN: 404,
    Reason.LOCATION_NOT_ZONE: 422,
    Reason.SIMULATOR_MISSING: 503,
    Reason.WEBHOOK_HOST_NOT_ALLOWED: 422,
    Reason.NO_CROSSWALK: 400,
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
    async def _invalid(req: Request, exc: RequestValidationError) -> JSONResponse:
        names = declared_names(req.app)
        errors = [field_error(e, names) for e in exc.errors()]
        return problem(Reason.VALIDATION_FAILED, "the request is not valid", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_req: Request, exc: StarletteHTTPException) -> JSONResponse:
        reason = _BY_STATUS.get(exc.status_code, Reason.VALIDATION_FAILED)
        resp = problem(reason, str(exc.detail), http_status=exc.status_code)
        for name, value in (exc.headers or {}).items():
            resp.headers[name] = value
        return resp


# Where a request carries its parts; a validation error starts with one of them.
LOCATIONS = frozenset({"body", "query", "path", "header", "cookie"})
UNKNOWN = "*"  # a name the caller chose (a key of a free-form object, an unknown field)
_GENERIC = "the value is not valid"


def declared_names(app: FastAPI) -> frozenset[str]:
    """Every name the API declares: parameters, properties and enum values of its schemas."""
    names: frozenset[str] | None = getattr(app.state, "declared_names", None)
    if names is None:
        found: set[str] = set(LOCATIONS)
        _collect(app.openapi(), found)
        names = app.state.declared_names = frozenset(found)
    return names


def _collect(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        props = node.get("properties")
        if isinstance(props, dict):
            found.update(props)
        if node.get("in") in LOCATIONS and isinstance(node.get("name"), str):
            found.add(node["name"])
        found.update(v for v in node.get("enum", ()) if isinstance(v, str))
        for value in node.values():
            _collect(value, found)
    elif isinstance(node, list):
        for value in node:
            _collect(value, found)


def field_error(error: Any, names: frozenset[str]) -> dict[str, str]:
    """Which part of the request failed and how, never what was sent.

    A path component that is not a declared name (an unknown field, the key of a
    free-form object) is shown as `*`: the key itself may be personal data (an
    e-mail address). A message that contains the submitted value is replaced.
    """
    parts = [str(p) if isinstance(p, int) or p in names else UNKNOWN for p in error.get("loc", ())]
    message = str(error.get("msg", "")) or _GENERIC
    sent = error.get("input")
    keys = [str(p) for p in error.get("loc", ()) if isinstance(p, str) and p not in names]
    echoed = [str(sent)] if isinstance(sent, str | int | float) and str(sent) else []
    if any(len(text) > 1 and text in message for text in echoed + keys):
        message = _GENERIC
    if error.get("type") == "extra_forbidden":
        message = "this field is not part of the request"
    return {"field": ".".join(parts), "message": message}


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
