"""Residents' rights as one service: what the API, the CLI and the demo call."""

from __future__ import annotations

from charter.auth import TokenIssuer
from charter.rights.access import Access
from charter.rights.choices import ConsentChoices
from charter.rights.consent import Consents
from charter.rights.context import RightsContext
from charter.rights.guard import BulkReadGuard, ReadGuard
from charter.rights.readings import Readings
from charter.rights.residents import Residents
from charter.rights.retention import Retention
from charter.rights.subject import SubjectRights


class Rights:
    def __init__(
        self, ctx: RightsContext, issuer: TokenIssuer, guard: BulkReadGuard | None = None
    ) -> None:
        self.ctx = ctx
        # The one door every read of personal data passes (purpose, bulk-read budget).
        self.guard = ReadGuard(guard)
        self.residents = Residents(ctx, issuer)
        self.consents = Consents(ctx)
        self.choices = ConsentChoices(ctx)  # the resident app's switches
        self.access = Access(ctx, self.guard)
        self.readings = Readings(ctx.store, ctx.gate.directory, self.guard)
        self.subject = SubjectRights(ctx)
        self.retention = Retention(ctx)

    def close(self) -> None:
        self.ctx.keys.close()
