"""The retention job: delete data past its project's declared retention, per category.

Quarantined copies go too: at the shortest retention their project declares
for what they hold (`expires_at`), and at the latest after
`quarantine_retention_days`, whether held or replayed.

It also keeps the pseudonymisation key on its schedule (rotate, then destroy a
replaced key and its links after the grace period) and finishes any erasure
whose key was not yet destroyed. Each run is recorded (store and ledger) with
what it removed, for the transparency report.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from charter.domain.model import Actor
from charter.rights.context import RightsContext
from charter.store.ngsild import purge_expired as purge_ngsild
from charter.store.rights import RetentionRun

DAY_MS = 24 * 3600 * 1000


class Retention:
    def __init__(self, ctx: RightsContext) -> None:
        self.ctx = ctx

    def run(self, actor: Actor) -> RetentionRun:
        ctx = self.ctx
        settings = ctx.settings
        detail: dict[str, Any] = {"readings": {}}
        rotated = None
        if ctx.pseudonyms.due(settings.pseudonym_key_days):
            rotated = ctx.pseudonyms.rotate()
        expired = ctx.pseudonyms.expired_versions(timedelta(days=settings.pseudonym_grace_days))
        projects = ctx.store.list_projects()
        with ctx.gate.exclusive():
            with ctx.ledger.write() as w:
                removed = 0
                for project in projects:
                    devices = [d.id for d in ctx.store.list_devices(project.id)]
                    for c in project.categories:
                        cut = w.now_ms - c.retention_days * DAY_MS
                        n = w.tx.delete_readings_before(devices, c.name, cut)
                        if n:
                            detail["readings"].setdefault(project.id, {})[c.name] = n
                            removed += n
                purged = w.tx.purge_quarantine(
                    w.now_ms, w.now_ms - settings.quarantine_retention_days * DAY_MS
                )
                detail["quarantine"] = purged
                removed += purged
                # NGSI-LD entities and attribute history published from readings (ngsild.bridge)
                detail["ngsild"] = purge_ngsild(w.tx, w.now_ms)
                removed += sum(detail["ngsild"].values())
                links = 0
                if expired:
                    links = w.tx.delete_links(below_version=max(expired) + 1)
                    w.tx.bump_rights_version()
                detail["pseudonym_key"] = {
                    "rotated_to": rotated,
                    "destroyed": expired,
                    "links_removed": links,
                }
                run = RetentionRun(w.now_ms, removed, detail)
                w.tx.add_retention_run(run)
                w.record("retention.ran", actor, removed=removed, detail=detail)
            if expired:
                ctx.index.reload()
        for v in expired:
            ctx.keys.destroy_pseudonym_key(v)
        ctx.pseudonyms.reload()
        for resident in self._erased_with_keys():
            ctx.keys.destroy_resident_key(resident)
        return run

    def _erased_with_keys(self) -> list[str]:
        # Erasures interrupted between their commit and the key's destruction.
        return [r for r in self.ctx.store.erased_residents() if self.ctx.keys.has_resident_key(r)]
