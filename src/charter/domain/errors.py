"""Errors that carry a reason code, so every layer reports them the same way."""

from __future__ import annotations

from charter.domain.reasons import Reason


class CharterError(Exception):
    def __init__(self, reason: Reason, detail: str = "") -> None:
        super().__init__(detail or reason.sentence)
        self.reason = reason
        self.detail = detail or reason.sentence


class NotFound(CharterError):
    """Nothing by that id. The id is kept on the error, never put in its detail: an id
    is what the caller sent, and may be anything (an e-mail address in a path)."""

    def __init__(self, what: str) -> None:
        super().__init__(Reason.NOT_FOUND, "nothing by that id is on the register")
        self.what = what


class InvalidTransition(CharterError):
    def __init__(self, detail: str) -> None:
        super().__init__(Reason.INVALID_TRANSITION, detail)


class Conflict(CharterError):
    def __init__(self, detail: str) -> None:
        super().__init__(Reason.CONFLICT, detail)


class Invalid(CharterError):
    def __init__(self, detail: str) -> None:
        super().__init__(Reason.VALIDATION_FAILED, detail)


class FieldErrors(CharterError):
    """A refusal that names each field at fault, with a message per field."""

    def __init__(self, reason: Reason, problems: list[tuple[str, str]]) -> None:
        super().__init__(reason, "; ".join(f"{f}: {m}" for f, m in problems))
        self.errors = [{"field": f, "message": m} for f, m in problems]
