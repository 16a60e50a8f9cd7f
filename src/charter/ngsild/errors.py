"""NGSI-LD errors: ProblemDetails (RFC 9457) with the error type URIs of GS CIM 009.

Every error names its NGSI-LD type (clause 5.5.2 / 6.3.2 of v1.8: one HTTP status
per type) and, where Charter refused something, Charter's own reason code in the
`reason` member, so a FIWARE client sees the standard type and an auditor the rule.
A detail never carries submitted values (they may be personal data).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from charter.domain.reasons import Reason

ERRORS = "https://uri.etsi.org/ngsi-ld/errors/"
# Authentication and Charter's rights have no NGSI-LD type: they keep Charter's.
CHARTER_PROBLEMS = "https://charter.example.city/problems/"


class ErrorType(StrEnum):
    INVALID_REQUEST = "InvalidRequest"
    BAD_REQUEST_DATA = "BadRequestData"
    ALREADY_EXISTS = "AlreadyExists"
    OPERATION_NOT_SUPPORTED = "OperationNotSupported"
    RESOURCE_NOT_FOUND = "ResourceNotFound"
    INTERNAL_ERROR = "InternalError"
    TOO_COMPLEX_QUERY = "TooComplexQuery"
    TOO_MANY_RESULTS = "TooManyResults"
    LD_CONTEXT_NOT_AVAILABLE = "LdContextNotAvailable"
    NO_MULTI_TENANT_SUPPORT = "NoMultiTenantSupport"
    NONEXISTENT_TENANT = "NonexistentTenant"

    @property
    def uri(self) -> str:
        return ERRORS + self.value


STATUS: dict[ErrorType, int] = {
    ErrorType.INVALID_REQUEST: 400,
    ErrorType.BAD_REQUEST_DATA: 400,
    ErrorType.ALREADY_EXISTS: 409,
    ErrorType.OPERATION_NOT_SUPPORTED: 422,
    ErrorType.RESOURCE_NOT_FOUND: 404,
    ErrorType.INTERNAL_ERROR: 500,
    ErrorType.TOO_COMPLEX_QUERY: 403,
    ErrorType.TOO_MANY_RESULTS: 403,
    ErrorType.LD_CONTEXT_NOT_AVAILABLE: 503,
    ErrorType.NO_MULTI_TENANT_SUPPORT: 501,
    ErrorType.NONEXISTENT_TENANT: 404,
}

TITLES: dict[ErrorType, str] = {
    ErrorType.INVALID_REQUEST: "The request is not well formed",
    ErrorType.BAD_REQUEST_DATA: "The request contains input data which is not valid",
    ErrorType.ALREADY_EXISTS: "The entity already exists",
    ErrorType.OPERATION_NOT_SUPPORTED: "The operation is not supported",
    ErrorType.RESOURCE_NOT_FOUND: "The resource was not found",
    ErrorType.INTERNAL_ERROR: "Internal error",
    ErrorType.TOO_COMPLEX_QUERY: "The query is too complex",
    ErrorType.TOO_MANY_RESULTS: "The query gives too many results",
    ErrorType.LD_CONTEXT_NOT_AVAILABLE: "A JSON-LD @context could not be retrieved",
    ErrorType.NO_MULTI_TENANT_SUPPORT: "Multi-tenancy is not supported",
    ErrorType.NONEXISTENT_TENANT: "The tenant does not exist",
}


_PHRASES = {406: "Not Acceptable", 411: "Length Required", 415: "Unsupported Media Type"}


class NgsiError(Exception):
    """An NGSI-LD error: its type, a detail without submitted values, Charter's reason."""

    def __init__(
        self,
        kind: ErrorType | None,
        detail: str,
        *,
        reason: Reason | None = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.reason = reason
        self.status = status or (STATUS[kind] if kind else 403)
        self.headers = headers or {}

    def problem(self) -> dict[str, Any]:
        if self.kind is not None:
            type_, title = self.kind.uri, TITLES[self.kind]
        elif self.reason is None:  # a plain HTTP refusal (406, 411, 415): RFC 9457 about:blank
            type_, title = "about:blank", _PHRASES.get(self.status, "Error")
        else:
            type_ = CHARTER_PROBLEMS + self.reason.value.lower().replace("_", "-")
            title = self.reason.sentence
        body: dict[str, Any] = {
            "type": type_,
            "title": title,
            "status": self.status,
            "detail": self.detail,
        }
        if self.reason is not None:
            body["reason"] = self.reason.value
        return body


def bad_data(detail: str, reason: Reason | None = None) -> NgsiError:
    return NgsiError(ErrorType.BAD_REQUEST_DATA, detail, reason=reason)


def invalid(detail: str) -> NgsiError:
    return NgsiError(ErrorType.INVALID_REQUEST, detail)


def not_found(detail: str = "no such entity") -> NgsiError:
    return NgsiError(ErrorType.RESOURCE_NOT_FOUND, detail)


# Charter's reason codes as NGSI-LD errors: the spec's type where one fits,
# Charter's own problem type (with the status the rest of the API uses) where none does.
_BY_REASON: dict[Reason, ErrorType] = {
    Reason.MALFORMED_JSON: ErrorType.INVALID_REQUEST,
    Reason.VALIDATION_FAILED: ErrorType.BAD_REQUEST_DATA,
    Reason.NOT_FOUND: ErrorType.RESOURCE_NOT_FOUND,
    Reason.CONFLICT: ErrorType.ALREADY_EXISTS,
    Reason.WRONG_TYPE: ErrorType.BAD_REQUEST_DATA,
    Reason.WRONG_UNIT: ErrorType.BAD_REQUEST_DATA,
    Reason.NON_FINITE: ErrorType.BAD_REQUEST_DATA,
    Reason.OUT_OF_RANGE: ErrorType.BAD_REQUEST_DATA,
    Reason.INVALID_READING: ErrorType.BAD_REQUEST_DATA,
    Reason.STALE_TIMESTAMP: ErrorType.BAD_REQUEST_DATA,
    Reason.FUTURE_TIMESTAMP: ErrorType.BAD_REQUEST_DATA,
}


def from_reason(reason: Reason, detail: str, status: int | None = None) -> NgsiError:
    """The NGSI-LD error for a refusal Charter made (the gate, a guard, the token check)."""
    from charter.api.problems import STATUS as CHARTER_STATUS

    kind = _BY_REASON.get(reason)
    code = status or (STATUS[kind] if kind else CHARTER_STATUS.get(reason, 403))
    headers: dict[str, str] = {}
    if code == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return NgsiError(kind, detail, reason=reason, status=code, headers=headers)
