"""A consultation: the public exhibition of a project or of an amendment to a live one.

Records as the store keeps them, and the rules of when a council may decide.
Comments carry no name or contact: those are kept apart and never published.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ConsultationKind(StrEnum):
    INITIAL = "initial"  # a new project before it may go live
    AMENDMENT = "amendment"  # a material change to a live project


class ConsultationStatus(StrEnum):
    OPEN = "open"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


class Verdict(StrEnum):
    """The council's decision on a consultation."""

    APPROVE = "approve"
    REJECT = "reject"


APPROVE, REJECT = Verdict.APPROVE, Verdict.REJECT


class Stance(StrEnum):
    SUPPORT = "support"
    OPPOSE = "oppose"
    COMMENT = "comment"  # neither: just a remark


@dataclass(frozen=True, slots=True)
class Consultation:
    id: int
    project_id: str
    kind: ConsultationKind
    opened_at: int
    closes_at: int
    status: ConsultationStatus
    proposal: str  # the project document put to the public (JSON)
    changes: str  # for an amendment: what changes, in words
    decided_at: int | None = None
    why: str = ""

    def has_ended(self, now_ms: int) -> bool:
        return now_ms >= self.closes_at


@dataclass(frozen=True, slots=True)
class Comment:
    id: int
    consultation_id: int
    at: int
    stance: Stance
    text: str
    theme_id: int | None = None


@dataclass(frozen=True, slots=True)
class Theme:
    id: int
    consultation_id: int
    created_at: int
    title: str
    summary: str
    response: str | None = None
    responded_at: int | None = None

    @property
    def answered(self) -> bool:
        return bool(self.response)


def unanswered(themes: list[Theme]) -> list[Theme]:
    return [t for t in themes if not t.answered]
