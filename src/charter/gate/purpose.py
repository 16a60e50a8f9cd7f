"""Stage 4, purpose: each reading is in a category its project declared for this device."""

from __future__ import annotations

from charter.domain.reasons import Reason
from charter.gate.batch import Batch

STAGE = "purpose"


class Purpose:
    def __call__(self, batch: Batch) -> None:
        for item in batch.live():
            view = item.device
            assert view is not None
            declared, allowed = view.declared, view.allowed
            readings = item.readings
            for i in item.open_readings():
                reading = readings[i]
                assert reading is not None
                if reading.category not in declared:
                    item.reject_reading(i, STAGE, Reason.UNDECLARED_CATEGORY, reading.category)
                elif reading.category not in allowed:
                    item.reject_reading(i, STAGE, Reason.CATEGORY_NOT_ALLOWED, reading.category)
