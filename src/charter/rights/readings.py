"""Admitted readings for the city's staff (operators, auditors), as stored.

Personal readings are returned as the gate stored them (encrypted with their
resident's key) but still count as personal records: the read passes the same
guard as a consumer's read under a grant.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from charter.domain.clock import iso, to_ms
from charter.domain.errors import Invalid
from charter.domain.model import Actor
from charter.gate.directory import DeviceDirectory
from charter.rights.guard import ReadGuard
from charter.store.base import Store

_decode = msgspec.json.decode


class Readings:
    def __init__(self, store: Store, directory: DeviceDirectory, guard: ReadGuard) -> None:
        self.store, self.directory, self.guard = store, directory, guard

    def list(
        self,
        actor: Actor,
        *,
        device: str | None = None,
        project: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        after: int = 0,
        limit: int = 1000,
        purpose: str | None = None,
        approval: str | None = None,
    ) -> dict[str, Any]:
        """By device, project and observed time ([since, until)); paged by id."""
        self.guard.purpose(actor, purpose)
        for moment in (since, until):
            if moment is not None and moment.tzinfo is None:
                raise Invalid("give times with an offset, e.g. 2026-11-29T12:00:00Z")
        rows = self.store.readings(
            device_id=device,
            project_id=project,
            since=to_ms(since) if since else None,
            until=to_ms(until) if until else None,
            after_id=after,
            limit=limit,
        )
        personal = sum(1 for r in rows if self.directory.may_be_personal(r.category))
        self.guard.count(actor, project or "readings", personal, approval=approval)
        items = [
            {
                "id": r.id,
                "device": r.device_id,
                "project": r.project_id,
                "category": r.category,
                "observed_at": iso(r.observed_at),
                "received_at": iso(r.received_at),
                "seq": r.seq,
                "values": _decode(r.body),
            }
            for r in rows
        ]
        return {"readings": items, "next_after": rows[-1].id if len(rows) == limit else None}
