"""The transparency report: what the platform admitted, refused, held and decided.

Computed from the store (decisions, readings, quarantine, consultations) and
the ledger (incidents), against a signed checkpoint taken first: every figure
covers at least what that checkpoint covers. Sections about residents' rights
(consent counts, access requests) come from an optional provider; without one
the report says they are not recorded yet.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from charter.domain.clock import iso, to_ms
from charter.domain.consultation import Stance
from charter.domain.errors import NotFound
from charter.ledger.log import Ledger
from charter.store.base import Store

INCIDENT_STATUSES = {
    "device.status": {"suspended", "revoked"},
    "project.status": {"suspended"},
}
NOT_RECORDED = "not recorded yet"


class RightsProvider(Protocol):
    """Consent counts by category and access requests by purpose and outcome."""

    def consent_counts(self, project_id: str | None) -> dict[str, dict[str, int]]: ...
    def access_requests(self, project_id: str | None) -> dict[str, dict[str, int]]: ...
    def retention(self, project_id: str | None) -> list[dict[str, Any]]: ...


def rights_of(platform: object) -> RightsProvider | None:
    """The platform's provider of consent and access-request figures, once it has one.

    Wiring point: a Platform attribute `rights_report` implementing RightsProvider.
    """
    provider: RightsProvider | None = getattr(platform, "rights_report", None)
    return provider


@dataclass
class ConsultationLine:
    project: str
    project_name: str
    kind: str
    status: str
    opened_at: str
    closes_at: str
    decided_at: str | None
    support: int
    oppose: int
    comments: int
    themes: int
    answered: int
    responses: list[dict[str, str | None]] = field(default_factory=list)


@dataclass
class Incident:
    at: str
    kind: str
    subject: str
    change: str
    why: str
    ledger_index: int


@dataclass
class TransparencyReport:
    scope: str
    scope_name: str
    generated_at: str
    checkpoint: dict[str, Any]
    admitted: int
    admitted_by_project: dict[str, int]
    rejected: dict[str, int]
    quarantine_held: int
    quarantine_replayed: int
    projects_by_status: dict[str, int]
    consultations: list[ConsultationLine]
    incidents: list[Incident]
    consent: dict[str, dict[str, int]] | str
    access_requests: dict[str, dict[str, int]] | str
    retention: list[dict[str, Any]] | str
    recent_comments: list[dict[str, str]]

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["rejected_total"] = self.rejected_total
        return out


def compute(
    store: Store,
    ledger: Ledger,
    project_id: str | None = None,
    rights: RightsProvider | None = None,
    comments_shown: int = 20,
) -> TransparencyReport:
    checkpoint = ledger.checkpoint()
    now = iso(to_ms(ledger.clock.now()))
    projects = store.list_projects()
    if project_id is not None:
        project = store.get_project(project_id)
        if project is None:
            raise NotFound(project_id)
        projects = [project]
        admitted = store.count_readings_of(project_id)
        rejected = store.rejections_by_reason_of(project_id)
        held = store.count_quarantine_of(project_id, "held")
        replayed = store.count_quarantine_of(project_id, "replayed")
        scope_name = project.name
    else:
        admitted = store.count_readings()
        rejected = store.rejections_by_reason()
        held = store.count_quarantine("held")
        replayed = store.count_quarantine("replayed")
        scope_name = "City-wide"
    by_status: dict[str, int] = {}
    for p in projects:
        by_status[p.status.value] = by_status.get(p.status.value, 0) + 1

    lines: list[ConsultationLine] = []
    shown: list[dict[str, str]] = []
    for p in projects:
        for c in store.consultations(p.id):
            stances = store.stance_counts(c.id)
            themes = store.themes(c.id)
            lines.append(
                ConsultationLine(
                    project=p.id,
                    project_name=p.name,
                    kind=c.kind.value,
                    status=c.status.value,
                    opened_at=iso(c.opened_at),
                    closes_at=iso(c.closes_at),
                    decided_at=iso(c.decided_at) if c.decided_at is not None else None,
                    support=stances.get(Stance.SUPPORT.value, 0),
                    oppose=stances.get(Stance.OPPOSE.value, 0),
                    comments=sum(stances.values()),
                    themes=len(themes),
                    answered=sum(1 for t in themes if t.answered),
                    responses=[
                        {"theme": t.title, "summary": t.summary, "response": t.response}
                        for t in themes
                    ],
                )
            )
            if project_id is not None:
                shown += [
                    {"at": iso(m.at), "stance": m.stance.value, "text": m.text}
                    for m in store.comments(c.id, limit=comments_shown)
                ]

    return TransparencyReport(
        scope=project_id or "city",
        scope_name=scope_name,
        generated_at=now,
        checkpoint={
            "size": checkpoint.size,
            "root": checkpoint.root.hex(),
            "at": iso(checkpoint.at),
            "note": checkpoint.note,
        },
        admitted=admitted,
        admitted_by_project={p.name: store.count_readings_of(p.id) for p in projects},
        rejected=rejected,
        quarantine_held=held,
        quarantine_replayed=replayed,
        projects_by_status=by_status,
        consultations=lines,
        incidents=_incidents(store, checkpoint.size, project_id),
        consent=rights.consent_counts(project_id) if rights else NOT_RECORDED,
        access_requests=rights.access_requests(project_id) if rights else NOT_RECORDED,
        retention=rights.retention(project_id) if rights else NOT_RECORDED,
        recent_comments=shown[:comments_shown],
    )


def _incidents(store: Store, size: int, project_id: str | None) -> list[Incident]:
    """Suspensions and revocations, from the ledger up to the checkpoint."""
    devices = {d.id for d in store.list_devices(project_id)} if project_id else None
    out: list[Incident] = []
    for entry in store.iter_ledger_entries():
        if entry.idx >= size:
            break
        statuses = INCIDENT_STATUSES.get(entry.kind)
        if statuses is None:
            continue
        data = json.loads(entry.data)
        if data.get("new") not in statuses:
            continue
        subject = str(data.get("subject", ""))
        if project_id is not None and subject != project_id and subject not in (devices or ()):
            continue
        out.append(
            Incident(
                at=iso(entry.at),
                kind=entry.kind.split(".")[0],
                subject=subject,
                change=f"{data.get('old')} → {data.get('new')}",
                why=str(data.get("why", "")),
                ledger_index=entry.idx,
            )
        )
    return out
