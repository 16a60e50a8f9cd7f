"""Stage 7, minimise: keep only the fields the category declared, then make the row."""

from __future__ import annotations

import msgspec

from charter.gate.batch import Batch

STAGE = "minimise"

_encode = msgspec.json.Encoder().encode


class Minimise:
    def __call__(self, batch: Batch) -> None:
        for item in batch.live():
            env, view = item.envelope, item.device
            assert env is not None and view is not None
            device_id, project_id, seq = view.id, view.project_id, env.seq
            declared, received, observed = view.declared, item.received_at, item.observed
            rows = item.rows
            for i in item.open_readings():
                reading = item.readings[i]
                assert reading is not None
                fields = declared[reading.category].fields
                values = reading.values
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
