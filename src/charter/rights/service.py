"""Residents' rights as one service: what the API, the CLI and the demo call."""

from __future__ import annotations

from charter.rights.access import Access, BulkReadGuard
from charter.rights.consent import Consents
from charter.rights.context import RightsContext
from charter.rights.residents import Residents
from charter.rights.retention import Retention
from charter.rights.subject import SubjectRights


class Rights:
    def __init__(self, ctx: RightsContext, guard: BulkReadGuard | None = None) -> None:
        self.ctx = ctx
        self.residents = Residents(ctx)
        self.consents = Consents(ctx)
        self.access = Access(ctx, guard)
        self.subject = SubjectRights(ctx)
        self.retention = Retention(ctx)

    def close(self) -> None:
        self.ctx.keys.close()
