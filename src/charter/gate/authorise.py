"""Stage 3, authorise: an active device of a trusted vendor, in a live project,
within the dates the public register gives for it."""

from __future__ import annotations

from charter.domain.model import DeviceStatus
from charter.domain.reasons import Reason
from charter.gate.batch import Batch

STAGE = "authorise"


class Authorise:
    def __call__(self, batch: Batch) -> None:
        for item in batch.live():
            view = item.device
            assert view is not None
            if view.status is DeviceStatus.REVOKED:
                item.reject(STAGE, Reason.DEVICE_REVOKED)
            elif not view.vendor_trusted:
                # Before suspension: a device suspended by the trust policy is
                # refused with the reason that suspended it.
                item.reject(STAGE, Reason.VENDOR_UNTRUSTED)
            elif view.status is DeviceStatus.SUSPENDED:
                item.reject(STAGE, Reason.DEVICE_SUSPENDED)
            elif not view.project_live:
                item.reject(STAGE, Reason.PROJECT_NOT_LIVE)
            elif view.active_until_ms is not None and batch.now_ms >= view.active_until_ms:
                # The public register says the sensor's service ended: it may not send.
                item.reject(STAGE, Reason.REGISTRATION_ENDED)
