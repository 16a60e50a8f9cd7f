"""The city's register rules, read once from the settings: how long consultations last,
which principles every project answers, which uses are prohibited."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from charter.domain.clock import to_ms
from charter.domain.errors import CharterError, FieldErrors
from charter.domain.principles import (
    DEFAULT_PRINCIPLES,
    DEFAULT_PROHIBITED,
    Principle,
    ProhibitedUse,
    parse_principles,
    parse_prohibited,
)
from charter.domain.reasons import Reason

# A stated time may lag the clock by this much (a form filled in a minute ago).
BACKDATE_TOLERANCE_MS = 60_000


@dataclass(frozen=True)
class RegisterRules:
    consultation_days: int = 60
    principles: list[Principle] = field(
        default_factory=lambda: parse_principles(DEFAULT_PRINCIPLES)
    )
    prohibited: list[ProhibitedUse] = field(
        default_factory=lambda: parse_prohibited(DEFAULT_PROHIBITED)
    )
    comment_max_chars: int = 4000
    comments_per_hour: int = 10

    @classmethod
    def from_lists(
        cls,
        consultation_days: int,
        principles: list[str],
        prohibited: list[str],
        comment_max_chars: int = 4000,
        comments_per_hour: int = 10,
    ) -> RegisterRules:
        return cls(
            consultation_days,
            parse_principles(principles),
            parse_prohibited(prohibited),
            comment_max_chars,
            comments_per_hour,
        )


def refuse(reason: Reason, problems: list[tuple[str, str]]) -> None:
    if problems:
        raise FieldErrors(reason, problems)


def check_not_backdated(now_ms: int, last_change_ms: int | None, at: datetime | None) -> None:
    """A change is stamped with the clock; it may not claim an earlier time, nor may the
    clock stand before the record's last change."""
    if last_change_ms is not None and now_ms < last_change_ms:
        raise CharterError(Reason.BACKDATED, "the clock stands before the record's last change")
    if at is None:
        return
    stated = to_ms(at)
    if stated < now_ms - BACKDATE_TOLERANCE_MS or (
        last_change_ms is not None and stated < last_change_ms
    ):
        raise CharterError(Reason.BACKDATED, "a change cannot take effect in the past")
    if stated > now_ms + BACKDATE_TOLERANCE_MS:
        raise CharterError(
            Reason.VALIDATION_FAILED, "a change takes effect when it is made, not later"
        )
