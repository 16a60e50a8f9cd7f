"""The one door by which a city service receives personal readings.

A service that declares a personal category and the purpose it uses it for
(`Service.purposes`) is given, of the admitted readings of its project, only
those whose resident consents *now* to that category, for that purpose and
project (read from the store at each batch, so a withdrawal committed a moment
ago, by any process, is refused at the next read). What it receives is
minimised: the fields the gate kept (the raw identifier was never stored),
decrypted, and a pseudonym in place of the resident: a digest of the service,
the day and the resident, so one service cannot link a person to another
service's view, nor follow them from one day to the next.

Every such read is on the resident's access history and on the ledger, as a
data consumer's read under a grant is (`rights/access.py`): who read (the
service), for what purpose, how many readings; never who the resident is.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from charter.domain.clock import to_ms
from charter.rights.context import RightsContext
from charter.services.base import Reading
from charter.store.base import ReadingRow
from charter.store.rights import AccessLogRecord, PersonalReading

DAY_MS = 86_400_000
PAGE = 1000


def pseudonym(service: str, resident_id: str, now_ms: int) -> str:
    """The resident as one service sees them on one day (not linkable across either)."""
    day = now_ms // DAY_MS
    return hashlib.sha256(f"service:{service}|{day}|{resident_id}".encode()).hexdigest()[:16]


class ServiceFeed:
    """Consented, minimised personal readings for a service's declared purpose."""

    def __init__(self, ctx: RightsContext) -> None:
        self.ctx = ctx
        # service, project, category -> the last stored reading id looked at
        self._after: dict[tuple[str, str, str], int] = {}

    def admit(
        self,
        service: str,
        project_id: str,
        purposes: Mapping[str, str],
        rows: Sequence[ReadingRow],
    ) -> list[Reading]:
        """Of `rows` (admitted, personal, of the service's project), what it may have."""
        store, now_ms = self.ctx.store, to_ms(self.ctx.clock.now())
        wanted: dict[str, set[tuple[str, int, int, str]]] = {}
        for device, project, category, observed, _received, seq, body in rows:
            if project == project_id and category in purposes:
                wanted.setdefault(category, set()).add((device, seq, observed, body))
        out: list[Reading] = []
        per_resident: dict[tuple[str, str], int] = {}
        consenting: dict[str, bool] = {}
        for category, keys in wanted.items():
            purpose = purposes[category]
            cursor = (service, project_id, category)
            stored: list[PersonalReading] = []
            while True:  # every row stored since the last look (they are committed)
                page = store.personal_readings(
                    project_id=project_id,
                    category=category,
                    after_id=self._after.get(cursor, 0),
                    limit=PAGE,
                )
                if page:
                    self._after[cursor] = page[-1][0]
                stored += page
                if len(page) < PAGE:
                    break
            for _id, device, project, cat, observed, received, seq, body, subject in stored:
                if (device, seq, observed, body) not in keys:
                    continue
                ok = consenting.get(f"{subject}|{category}|{purpose}")
                if ok is None:
                    ok = self._consents(subject, category, purpose, project_id, now_ms)
                    consenting[f"{subject}|{category}|{purpose}"] = ok
                if not ok:
                    continue
                plain = self.ctx.cipher.decrypt(subject, cat, body)
                if plain is None:
                    continue  # erased: its key is gone
                values: dict[str, Any] = json.loads(plain)
                values["subject"] = pseudonym(service, subject, now_ms)
                out.append(Reading(device, project, cat, observed, received, seq, values))
                per_resident[(subject, category)] = per_resident.get((subject, category), 0) + 1
        if per_resident:
            self._record(service, purposes, per_resident)
        return out

    def _consents(
        self, resident: str, category: str, purpose: str, project_id: str, now_ms: int
    ) -> bool:
        return any(
            c.category == category
            and c.purpose == purpose
            and project_id in c.projects
            and c.valid_at(now_ms)
            for c in self.ctx.store.consents(resident, active_only=True)
        )

    def _record(
        self,
        service: str,
        purposes: Mapping[str, str],
        per_resident: dict[tuple[str, str], int],
    ) -> None:
        consumer = f"service:{service}"
        with self.ctx.ledger.write() as w:
            w.tx.add_access_log(
                [
                    AccessLogRecord(
                        w.now_ms, r, consumer, f"algorithm:{service}", purposes[c], c, k
                    )
                    for (r, c), k in sorted(per_resident.items())
                ]
            )
            for category in sorted({c for _, c in per_resident}):
                w.record(
                    "personal.read",
                    None,
                    consumer=consumer,
                    purpose=purposes[category],
                    category=category,
                    readings=sum(k for (_, c), k in per_resident.items() if c == category),
                    residents=sum(1 for _, c in per_resident if c == category),
                )
