"""`Gate.ingest_credentialed`: a device's readings without a signature (its credential was
checked at the NGSI-LD door) go through the same stages after the signature."""

from __future__ import annotations

from charter.bootstrap import Platform
from charter.domain.envelope import ReadingIn
from charter.domain.model import DeviceStatus
from tests.conftest import OPERATOR, SampleCity


def _air(platform: Platform, pm25: object = 8.0, unit: str = "ug/m3") -> ReadingIn:
    return ReadingIn("air.quality", platform.clock.now(), {"pm25": pm25}, {"pm25": unit})


def test_admitted_readings_use_no_sequence_number(platform: Platform, city: SampleCity) -> None:
    device = city.air.device_id
    out = platform.gate.ingest_credentialed(device, [_air(platform)])
    assert (out.admitted, out.rejection) == (1, None)
    [row] = platform.store.readings(device_id=device, limit=10)
    assert (row.seq, row.category) == (-1, "air.quality")
    assert platform.store.device_seq(device) == -1  # the envelopes' count is untouched
    assert platform.gate.ingest([city.envelope(city.air, seq=1)])[0].admitted == 1


def test_refusals_are_decisions_and_nothing_is_quarantined(
    platform: Platform, city: SampleCity
) -> None:
    gate = platform.gate
    out = gate.ingest_credentialed("urn:ngsi-ld:Device:nobody", [_air(platform)])
    assert out.rejection is not None and out.rejection.reason.value == "NOT_REGISTERED"
    out = gate.ingest_credentialed(city.air.device_id, [_air(platform, unit="mg/m3")])
    assert out.admitted == 0 and out.rejected == {"WRONG_UNIT": 1}
    platform.registry.set_device_status(city.air.device_id, DeviceStatus.SUSPENDED, OPERATOR, "t")
    out = gate.ingest_credentialed(city.air.device_id, [_air(platform)])
    assert out.rejection is not None and out.rejection.reason.value == "DEVICE_SUSPENDED"
    assert out.quarantined == 0 and platform.store.count_quarantine() == 0
    reasons = platform.store.rejections_by_reason()
    assert {"NOT_REGISTERED", "WRONG_UNIT", "DEVICE_SUSPENDED"} <= set(reasons)
    assert gate.ingest_credentialed(city.air.device_id, []).rejection is not None
