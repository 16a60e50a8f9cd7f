"""Stage 6, consent: a reading about a person needs that person's consent."""

from __future__ import annotations

from typing import Protocol

from charter.domain.envelope import ReadingIn
from charter.domain.reasons import Reason
from charter.gate.batch import Batch
from charter.gate.directory import DeviceView

STAGE = "consent"


class ConsentPolicy(Protocol):
    def allows(self, device: DeviceView, reading: ReadingIn) -> bool: ...


class NoConsentRecorded:
    """Until residents can record consent, nothing personal is admitted."""

    def allows(self, device: DeviceView, reading: ReadingIn) -> bool:
        return False


class Consent:
    def __init__(self, policy: ConsentPolicy) -> None:
        self.policy = policy

    def __call__(self, batch: Batch) -> None:
        for item in batch.live():
            view = item.device
            assert view is not None
            declared = view.declared
            for i in item.open_readings():
                reading = item.readings[i]
                assert reading is not None
                if declared[reading.category].personal and not self.policy.allows(view, reading):
                    item.reject_reading(i, STAGE, Reason.NO_CONSENT)
