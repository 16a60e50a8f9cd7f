"""Stage 7, minimise: keep only the fields the category declared, then make the row.

A personal reading loses its identifier field (the raw fob or tag is never
stored), is attributed to its resident's pseudonymous id, and its remaining
fields are encrypted with that resident's key.
"""

from __future__ import annotations

from typing import Protocol

import msgspec

from charter.domain.envelope import ReadingIn
from charter.domain.reasons import Reason
from charter.gate.batch import Batch
from charter.gate.directory import CategoryRule

STAGE = "minimise"

_encode = msgspec.json.Encoder().encode


class PersonalData(Protocol):
    def resolve(self, rule: CategoryRule, reading: ReadingIn) -> str | None:
        """The resident an identifier is linked to (when consent did not say)."""
        ...

    def seal(self, resident_id: str, category: str, plaintext: bytes) -> str | None:
        """The encrypted body, or None if the resident's key is gone."""
        ...


class Minimise:
    def __init__(self, personal: PersonalData | None = None) -> None:
        self.personal = personal

    def __call__(self, batch: Batch) -> None:
        personal = self.personal
        for item in batch.live():
            env, view = item.envelope, item.device
            assert env is not None and view is not None
            device_id, project_id, seq = view.id, view.project_id, env.seq
            declared, received, observed = view.declared, item.received_at, item.observed
            rows, subjects = item.rows, item.subjects
            for i in item.open_readings():
                reading = item.readings[i]
                assert reading is not None
                rule = declared[reading.category]
                fields = rule.fields
                values = reading.values
                if not rule.personal:
                    kept = {k: v for k, v in values.items() if k in fields}
                    rows.append(
                        (
                            device_id,
                            project_id,
                            reading.category,
                            observed[i],
                            received,
                            seq,
                            _encode(kept).decode(),
                        )
                    )
                    continue
                if personal is None:
                    item.reject_reading(i, STAGE, Reason.NO_CONSENT)
                    continue
                resident = subjects.get(i) or personal.resolve(rule, reading)
                ident = rule.identifier
                kept = {k: v for k, v in values.items() if k in fields and k != ident}
                body = (
                    personal.seal(resident, reading.category, _encode(kept))
                    if resident is not None
                    else None
                )
                if resident is None or body is None:
                    # Not attributable to a resident with a key: not kept.
                    item.reject_reading(i, STAGE, Reason.NO_CONSENT)
                    continue
                item.personal_rows.append(
                    (
                        (
                            device_id,
                            project_id,
                            reading.category,
                            observed[i],
                            received,
                            seq,
                            body,
                        ),
                        resident,
                    )
                )
