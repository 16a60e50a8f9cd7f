"""The consent choices a resident can make: one switch per project, category and purpose.

A switch exists for each personal category a live project declares, for each
purpose someone asked to use it for (an access request naming the project and
the category) and each purpose the resident already consented to. Each switch
says in plain words what it means and what is kept, in the words the register
holds, and whether it is on now (the resident's active consent, if any). The
resident app shows these; turning one on or off goes through `Consents`.
"""

from __future__ import annotations

from dataclasses import dataclass

from charter.domain.clock import to_ms
from charter.domain.model import Actor, ProjectStatus
from charter.rights.context import RightsContext, speaks_for
from charter.store.rights import ConsentRecord


@dataclass(frozen=True)
class Choice:
    project_id: str
    project_name: str
    accountable: str
    category: str
    description: str  # what the category is, as the project declared it
    collected: str  # what is kept about the resident
    retention_days: int
    purpose: str
    consent_id: str | None  # the active consent this switch stands for; None: off

    @property
    def on(self) -> bool:
        return self.consent_id is not None

    @property
    def key(self) -> str:
        """A stable form value for the switch."""
        return f"{self.project_id}|{self.category}|{self.purpose}"


def _active(c: ConsentRecord, now_ms: int) -> bool:
    return c.withdrawn_at is None and (c.expires_at is None or c.expires_at > now_ms)


class ConsentChoices:
    def __init__(self, ctx: RightsContext) -> None:
        self.ctx = ctx

    def of(self, resident_id: str, actor: Actor) -> list[Choice]:
        speaks_for(actor, resident_id)
        self.ctx.resident(resident_id)
        store = self.ctx.store
        now_ms = to_ms(self.ctx.clock.now())
        consents = [c for c in store.consents(resident_id) if _active(c, now_ms)]
        asked: dict[tuple[str, str], set[str]] = {}
        for req in store.access_requests():
            if req.status in ("pending", "granted"):
                for category in req.categories:
                    asked.setdefault((req.dataset, category), set()).add(req.purpose)
        for c in store.consents(resident_id):
            for pid in c.projects:
                asked.setdefault((pid, c.category), set()).add(c.purpose)
        out: list[Choice] = []
        for project in store.list_projects():
            if project.status is not ProjectStatus.LIVE:
                continue
            for cat in project.categories:
                if not cat.personal:
                    continue
                for purpose in sorted(asked.get((project.id, cat.name), set())):
                    on = next(
                        (
                            c.id
                            for c in consents
                            if c.category == cat.name
                            and c.purpose == purpose
                            and project.id in c.projects
                        ),
                        None,
                    )
                    collected = (
                        cat.disclosure.collected if cat.disclosure else None
                    ) or cat.description
                    out.append(
                        Choice(
                            project.id,
                            project.name,
                            project.accountable_organisation,
                            cat.name,
                            cat.description,
                            collected,
                            cat.retention_days,
                            purpose,
                            on,
                        )
                    )
        return out

    def find(self, resident_id: str, key: str, actor: Actor) -> Choice | None:
        return next((c for c in self.of(resident_id, actor) if c.key == key), None)
