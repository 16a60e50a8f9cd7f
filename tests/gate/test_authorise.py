"""Stage 3, authorise: only an active device of a trusted vendor, in a live project."""

from __future__ import annotations

from datetime import timedelta

import pytest

from charter.bootstrap import Platform
from charter.device import SimReading
from charter.domain.clock import FixedClock
from charter.domain.consultation import APPROVE
from charter.domain.model import DeviceStatus, ProjectStatus, Vendor
from charter.domain.reasons import Reason
from charter.gate.batch import Outcome
from charter.sim import city as sample
from tests.conftest import COUNCIL, OPERATOR, SampleCity, air_reading


def rejected(out: Outcome, reason: Reason) -> None:
    assert out.rejection is not None, out.to_json()
    assert (out.rejection.stage, out.rejection.reason) == ("authorise", reason)
    assert out.admitted == 0
    assert out.to_json()["stage"] == "authorise"


def water(city: SampleCity) -> list[SimReading]:
    now = city.platform.clock.now()
    return [SimReading("water.level", now, {"level": 42.0}, {"level": "cm"})]


def test_a_suspended_device_is_refused_until_reactivated(
    platform: Platform, city: SampleCity
) -> None:
    reg = platform.registry
    reg.set_device_status(city.air.device_id, DeviceStatus.SUSPENDED, OPERATOR, "inspection")
    [out] = platform.gate.ingest([city.envelope(city.air)])
    rejected(out, Reason.DEVICE_SUSPENDED)
    reg.set_device_status(city.air.device_id, DeviceStatus.ACTIVE, OPERATOR, "inspected")
    [out] = platform.gate.ingest([city.envelope(city.air)])
    assert out.rejection is None and out.admitted == 1
    assert platform.store.count_readings() == 1


def test_a_revoked_device_is_refused(platform: Platform, city: SampleCity) -> None:
    [before] = platform.gate.ingest([city.envelope(city.air)])
    assert before.admitted == 1
    platform.registry.set_device_status(
        city.air.device_id, DeviceStatus.REVOKED, OPERATOR, "key leaked"
    )
    [out] = platform.gate.ingest([city.envelope(city.air)])
    rejected(out, Reason.DEVICE_REVOKED)
    assert platform.store.count_readings() == 1


def test_revocation_wins_over_other_problems(platform: Platform, city: SampleCity) -> None:
    platform.registry.set_device_status(
        city.untrusted.device_id, DeviceStatus.REVOKED, OPERATOR, "key leaked"
    )
    [out] = platform.gate.ingest([city.envelope(city.untrusted)])
    rejected(out, Reason.DEVICE_REVOKED)


def test_a_device_of_an_untrusted_vendor_is_refused(platform: Platform, city: SampleCity) -> None:
    [out] = platform.gate.ingest([city.envelope(city.untrusted)])
    rejected(out, Reason.VENDOR_UNTRUSTED)
    assert platform.store.count_readings() == 0


def test_a_vendor_that_loses_trust_is_refused_at_the_next_envelope(
    platform: Platform, city: SampleCity
) -> None:
    [out] = platform.gate.ingest([city.envelope(city.air)])
    assert out.admitted == 1
    vendor = platform.store.get_vendor(sample.TRUSTED)
    assert vendor is not None
    platform.registry.update_vendor(
        Vendor(
            id=vendor.id,
            name=vendor.name,
            jurisdiction=vendor.jurisdiction,
            certifications=[],
            remote_raw_access=False,
        ),
        OPERATOR,
        "certificate expired",
    )
    [out] = platform.gate.ingest([city.envelope(city.air)])
    rejected(out, Reason.VENDOR_UNTRUSTED)


def test_a_project_in_consultation_is_not_live(platform: Platform, city: SampleCity) -> None:
    [out] = platform.gate.ingest([city.envelope(city.flood, water(city))])
    rejected(out, Reason.PROJECT_NOT_LIVE)
    assert platform.store.count_readings() == 0


def test_a_project_goes_live_only_after_approval(
    platform: Platform, city: SampleCity, clock: FixedClock
) -> None:
    [out] = platform.gate.ingest([city.envelope(city.flood, water(city))])
    rejected(out, Reason.PROJECT_NOT_LIVE)  # in consultation is not live
    clock.advance(timedelta(days=platform.settings.consultation_days))
    platform.registry.decide(sample.FLOOD, APPROVE, COUNCIL, "approved after consultation")
    [out] = platform.gate.ingest([city.envelope(city.flood, water(city))])
    rejected(out, Reason.PROJECT_NOT_LIVE)  # approved is not yet live
    platform.registry.set_project_status(sample.FLOOD, ProjectStatus.LIVE, OPERATOR, "installed")
    [out] = platform.gate.ingest([city.envelope(city.flood, water(city))])
    assert out.rejection is None and out.admitted == 1


@pytest.mark.parametrize("status", [ProjectStatus.SUSPENDED, ProjectStatus.RETIRED])
def test_a_suspended_or_retired_project_is_not_live(
    platform: Platform, city: SampleCity, status: ProjectStatus
) -> None:
    platform.registry.set_project_status(sample.AIR, status, OPERATOR, "paused by council")
    [out] = platform.gate.ingest([city.envelope(city.air)])
    rejected(out, Reason.PROJECT_NOT_LIVE)


def test_authorisation_is_per_envelope_in_a_batch(platform: Platform, city: SampleCity) -> None:
    now = platform.clock.now()
    outs = platform.gate.ingest(
        [
            city.envelope(city.untrusted),
            city.envelope(city.air, [air_reading(now)]),
            city.envelope(city.flood, water(city)),
        ]
    )
    assert [o.rejection.reason if o.rejection else None for o in outs] == [
        Reason.VENDOR_UNTRUSTED,
        None,
        Reason.PROJECT_NOT_LIVE,
    ]
    assert platform.store.count_readings() == 1
    [row] = platform.store.readings()
    assert row.device_id == city.air.device_id


def test_a_device_past_its_active_until_date_is_refused(
    platform: Platform, city: SampleCity, clock: FixedClock
) -> None:
    """The public register's end date binds the gate: the last day counts, the next does not."""
    from charter.device import DeviceSigner
    from charter.domain.disclosure import DeviceDisclosure
    from charter.domain.model import Device, Location, urn

    signer = DeviceSigner(urn("Device", "air-short-lease"))
    last_day = (clock.now() + timedelta(days=2)).date()
    platform.registry.register_device(
        Device(
            id=signer.device_id,
            vendor_id=sample.TRUSTED,
            project_id=sample.AIR,
            modality="test",
            location=Location(lat=52.36, lon=4.9),
            categories=["air.quality"],
            public_key=signer.public_key_b64,
            disclosure=DeviceDisclosure(active_until=last_day),
        ),
        OPERATOR,
    )
    clock.advance(timedelta(days=2))  # on its last day
    [out] = platform.gate.ingest([city.envelope(signer, [air_reading(clock.now())])])
    assert out.rejection is None and out.admitted == 1
    clock.advance(timedelta(days=1))  # the day after
    [out] = platform.gate.ingest([city.envelope(signer, [air_reading(clock.now())])])
    rejected(out, Reason.REGISTRATION_ENDED)
    # Other devices of the same project are not affected.
    [out] = platform.gate.ingest([city.envelope(city.air)])
    assert out.rejection is None


def test_a_device_active_until_the_last_day_of_the_calendar_is_admitted(
    platform: Platform, city: SampleCity, clock: FixedClock
) -> None:
    """9999-12-31 on the register means no end: the gate must not fail on the day after."""
    from datetime import date

    from charter.device import DeviceSigner
    from charter.domain.disclosure import DeviceDisclosure
    from charter.domain.model import Device, Location, urn

    signer = DeviceSigner(urn("Device", "air-forever"))
    platform.registry.register_device(
        Device(
            id=signer.device_id,
            vendor_id=sample.TRUSTED,
            project_id=sample.AIR,
            modality="test",
            location=Location(lat=52.36, lon=4.9),
            categories=["air.quality"],
            public_key=signer.public_key_b64,
            disclosure=DeviceDisclosure(active_until=date.max),
        ),
        OPERATOR,
    )
    bodies = [city.envelope(signer, [air_reading(clock.now())]), city.envelope(city.air)]
    assert [o.admitted for o in platform.gate.ingest(bodies)] == [1, 1]
