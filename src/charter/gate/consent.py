"""Stage 6, consent: a reading about a person needs that person's valid consent.

The policy names the resident a personal reading is about when, at this moment,
they have consented to its category for the device's project; otherwise the
reading is refused (NO_CONSENT) and dropped without its payload. Decisions are
confirmed inside the gate's write transaction (`confirm`) whenever the batch
held a personal reading, so a withdrawal that has committed is never outrun by
a batch decided just before it, and a consent given by another process is seen
at the next personal reading.
"""

from __future__ import annotations

from typing import Protocol

from charter.domain.envelope import ReadingIn
from charter.domain.reasons import Reason
from charter.gate.batch import Batch
from charter.gate.directory import DeviceView
from charter.store.base import Tx

STAGE = "consent"


class StaleConsent(Exception):
    """The consent register changed after the batch was decided: decide again."""


class ConsentPolicy(Protocol):
    def subject(self, device: DeviceView, reading: ReadingIn, now_ms: int) -> str | None:
        """The resident the reading is about, if they consent now; else None."""
        ...

    def confirm(self, tx: Tx) -> None:
        """Raise StaleConsent if the register changed since the decisions were made."""
        ...


class NoConsentRecorded:
    """A gate without a consent register admits nothing personal."""

    def subject(self, device: DeviceView, reading: ReadingIn, now_ms: int) -> str | None:
        return None

    def confirm(self, tx: Tx) -> None:
        return None


class Consent:
    def __init__(self, policy: ConsentPolicy) -> None:
        self.policy = policy

    def __call__(self, batch: Batch) -> None:
        now_ms = batch.now_ms
        subject = self.policy.subject
        for item in batch.live():
            view = item.device
            assert view is not None
            declared = view.declared
            for i in item.open_readings():
                reading = item.readings[i]
                assert reading is not None
                if not declared[reading.category].personal:
                    continue
                batch.consent_asked = True
                resident = subject(view, reading, now_ms)
                if resident is None:
                    item.reject_reading(i, STAGE, Reason.NO_CONSENT)
                else:
                    item.subjects[i] = resident
