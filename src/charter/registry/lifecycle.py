"""A project's life with the public: consultation, the council's decision, amendments.

draft → consultation (at least `consultation_days` on the clock) → council decides
(only after the period ended and with every theme answered) → approved → live.
A material change to a live project is an amendment: it goes to consultation
while the gate keeps enforcing the approved version, which the amendment
replaces only when the council approves it. Each step is one transaction
together with its ledger entry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from charter.domain.clock import iso, to_ms
from charter.domain.consultation import (
    Consultation,
    ConsultationKind,
    ConsultationStatus,
    Verdict,
    unanswered,
)
from charter.domain.disclosure_changes import material_changes
from charter.domain.disclosure_rules import (
    prohibited,
    project_capabilities,
    project_problems,
    project_texts,
)
from charter.domain.errors import CharterError, Conflict, InvalidTransition, NotFound
from charter.domain.model import Actor, Project, ProjectStatus
from charter.domain.reasons import Reason
from charter.ledger.log import Ledger
from charter.registry.rules import RegisterRules, check_not_backdated, refuse
from charter.store.base import Store

DAY_MS = int(timedelta(days=1).total_seconds() * 1000)
COUNCIL_ROLE = "council"


class Lifecycle:
    def __init__(
        self, store: Store, ledger: Ledger, rules: RegisterRules, changed: Callable[[str], None]
    ) -> None:
        self.store, self.ledger, self.rules, self._changed = store, ledger, rules, changed

    # checks shared with the registry --------------------------------------------
    def check(self, project: Project, *, complete: bool) -> None:
        """Refuse a prohibited use outright; then every missing or contradictory field."""
        uses = prohibited(
            self.rules.prohibited, project_texts(project), project_capabilities(project)
        )
        refuse(Reason.PROHIBITED_USE, uses)
        problems = project_problems(project, self.rules.principles, complete=complete)
        refuse(Reason.DISCLOSURE_INCOMPLETE, problems)

    def open_for(self, project_id: str) -> Consultation | None:
        for c in reversed(self.store.consultations(project_id)):
            if c.status is ConsultationStatus.OPEN:
                return c
        return None

    def _project(self, project_id: str) -> Project:
        project = self.store.get_project(project_id)
        if project is None:
            raise NotFound(project_id)
        return project

    # consultation -----------------------------------------------------------------
    def open(self, project_id: str, actor: Actor, why: str, at: datetime | None = None) -> Project:
        """Put a draft on public exhibition for at least `consultation_days`."""
        current = self._project(project_id)
        if current.status is not ProjectStatus.DRAFT:
            raise InvalidTransition(
                f"{project_id} cannot go from {current.status.value} to consultation"
            )
        self.check(current, complete=True)
        changed = current.model_copy(update={"status": ProjectStatus.CONSULTATION})
        with self.ledger.write() as w:
            check_not_backdated(w.now_ms, self.store.project_updated_at(project_id), at)
            closes = w.now_ms + self.rules.consultation_days * DAY_MS
            cid = w.tx.insert_consultation(
                Consultation(
                    0,
                    project_id,
                    ConsultationKind.INITIAL,
                    w.now_ms,
                    closes,
                    ConsultationStatus.OPEN,
                    changed.model_dump_json(),
                    "",
                )
            )
            w.tx.put_project(changed, w.now_ms)
            w.record(
                "project.status",
                actor,
                subject=project_id,
                old=current.status.value,
                new=changed.status.value,
                consultation=cid,
                closes_at=_iso(closes),
                why=why,
            )
        self._changed(project_id)
        return changed

    def amend(
        self, project: Project, actor: Actor, why: str, at: datetime | None = None
    ) -> tuple[Project, Consultation | None]:
        """Change a live (or approved, or suspended) project.

        A change that is not material applies at once; a material one goes to
        consultation as an amendment and the approved version stays in force.
        """
        current = self._project(project.id)
        if current.status not in (
            ProjectStatus.APPROVED,
            ProjectStatus.LIVE,
            ProjectStatus.SUSPENDED,
        ):
            raise InvalidTransition(
                f"{project.id} is {current.status.value}: only an approved project is amended"
            )
        if self.open_for(project.id) is not None:
            raise Conflict(f"{project.id} already has an amendment in consultation")
        proposed = project.model_copy(update={"status": current.status})
        for vendor_id in proposed.vendor_ids:
            if self.store.get_vendor(vendor_id) is None:
                raise NotFound(vendor_id)
        self.check(proposed, complete=True)
        changes = material_changes(current, proposed)
        with self.ledger.write() as w:
            check_not_backdated(w.now_ms, self.store.project_updated_at(project.id), at)
            if not changes:
                w.tx.put_project(proposed, w.now_ms)
                w.record("project.updated", actor, subject=project.id, material=False, why=why)
                consultation = None
            else:
                closes = w.now_ms + self.rules.consultation_days * DAY_MS
                consultation = Consultation(
                    0,
                    project.id,
                    ConsultationKind.AMENDMENT,
                    w.now_ms,
                    closes,
                    ConsultationStatus.OPEN,
                    proposed.model_dump_json(),
                    "; ".join(changes),
                )
                cid = w.tx.insert_consultation(consultation)
                consultation = _with_id(consultation, cid)
                w.record(
                    "project.amendment",
                    actor,
                    subject=project.id,
                    consultation=cid,
                    changes=changes,
                    closes_at=_iso(closes),
                    why=why,
                )
        self._changed(project.id)
        return (current if changes else proposed), consultation

    def decide(
        self,
        project_id: str,
        verdict: Verdict,
        actor: Actor,
        why: str,
        at: datetime | None = None,
    ) -> Project:
        """The council's decision on the open consultation (a project or an amendment)."""
        if actor.role != COUNCIL_ROLE:
            raise CharterError(Reason.FORBIDDEN, "only the council decides on a consultation")
        current = self._project(project_id)
        consultation = self.open_for(project_id)
        if consultation is None:
            raise InvalidTransition(
                f"{project_id} is {current.status.value} with no consultation to decide on"
            )
        if not consultation.has_ended(to_ms(self.ledger.clock.now())):
            raise CharterError(
                Reason.CONSULTATION_NOT_OVER,
                f"the consultation runs until {_iso(consultation.closes_at)}",
            )
        open_themes = unanswered(self.store.themes(consultation.id))
        if open_themes:
            titles = ", ".join(t.title for t in open_themes[:5])
            raise CharterError(
                Reason.THEMES_UNANSWERED,
                f"{len(open_themes)} theme(s) without a published response: {titles}",
            )
        approve = verdict is Verdict.APPROVE
        outcome = ConsultationStatus.APPROVED if approve else ConsultationStatus.REJECTED
        # What the council approves is the version the public saw, never a later edit.
        proposal = Project.model_validate_json(consultation.proposal)
        if consultation.kind is ConsultationKind.INITIAL:
            status = ProjectStatus.APPROVED if approve else ProjectStatus.DRAFT
            changed = (proposal if approve else current).model_copy(update={"status": status})
        else:
            changed = proposal.model_copy(update={"status": current.status}) if approve else current
        with self.ledger.write() as w:
            check_not_backdated(w.now_ms, self.store.project_updated_at(project_id), at)
            w.tx.decide_consultation(consultation.id, outcome.value, w.now_ms, why)
            if changed is not current:
                w.tx.put_project(changed, w.now_ms)
            if consultation.kind is ConsultationKind.INITIAL:
                w.record(
                    "project.status",
                    actor,
                    subject=project_id,
                    old=current.status.value,
                    new=changed.status.value,
                    consultation=consultation.id,
                    outcome=outcome.value,
                    why=why,
                )
            else:
                w.record(
                    "project.amendment.decided",
                    actor,
                    subject=project_id,
                    consultation=consultation.id,
                    outcome=outcome.value,
                    why=why,
                )
        self._changed(project_id)
        return changed


def _with_id(c: Consultation, cid: int) -> Consultation:
    return replace(c, id=cid)


def _iso(ms: int) -> str:
    return iso(ms)
