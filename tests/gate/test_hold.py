"""What quarantine keeps of a rejected envelope: the declared fields of certainly
non-personal categories, as admission would minimise them, never the bytes as sent."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import msgspec

from charter.bootstrap import Platform
from charter.device import DeviceSigner
from charter.domain.model import DeviceStatus
from tests.conftest import OPERATOR, SampleCity, air_reading
from tests.gate.test_quarantine import all_rows, assert_no_trace, only_held, warm, water

EMAIL = "jane.doe.2231@example.org"
FOB = "FOB-hold-0042-resident"


def signed(signer: DeviceSigner, envelope: dict[str, Any]) -> bytes:
    """An envelope with whatever members the device chose, signed as sent."""
    return signer.seal(msgspec.json.encode(envelope))


def noisy(city: SampleCity, signer: DeviceSigner, seq: int, **reading: Any) -> bytes:
    """A signed envelope with personal data where no stage looks: an extra envelope
    member, an extra reading member and an undeclared field."""
    now = city.platform.clock.now()
    return signed(
        signer,
        {
            "v": 1,
            "device": signer.device_id,
            "seq": seq,
            "sent_at": now,
            "owner_email": EMAIL,
            "readings": [
                {
                    "category": "air.quality",
                    "t": now,
                    "values": {"pm25": 12.5, "contact": EMAIL, **reading},
                    "units": {"pm25": "ug/m3", "contact": FOB},
                    "fob": FOB,
                }
            ],
        },
    )


def test_an_envelope_held_whole_keeps_no_undeclared_member_or_field(
    platform: Platform, city: SampleCity
) -> None:
    platform.registry.set_device_status(
        city.air.device_id, DeviceStatus.SUSPENDED, OPERATOR, "inspection"
    )
    [out] = platform.gate.ingest([noisy(city, city.air, 1)])
    assert out.quarantined == 1
    held = msgspec.json.decode(only_held(platform).payload)
    assert held["readings"][0]["values"] == {"pm25": 12.5}
    assert held["readings"][0]["units"] == {"pm25": "ug/m3"}
    assert held["door"]["dropped"] == {
        "envelope_members": 1,
        "reading_members": 1,
        "fields": 1,
        "units": 1,
    }
    assert_no_trace(platform, EMAIL)
    assert_no_trace(platform, FOB)


def test_a_reading_held_alone_keeps_no_undeclared_member_or_field(
    platform: Platform, city: SampleCity
) -> None:
    [out] = platform.gate.ingest([noisy(city, city.air, 1, no2=-4.0)])
    assert out.quarantined == 1 and out.rejected == {"OUT_OF_RANGE": 1}
    item = only_held(platform)
    held = msgspec.json.decode(item.payload)
    assert held["readings"][0]["values"] == {"pm25": 12.5, "no2": -4.0}
    assert_no_trace(platform, EMAIL)
    assert_no_trace(platform, FOB)


def test_a_minimised_envelope_replays_to_what_admission_would_store(
    platform: Platform, city: SampleCity
) -> None:
    platform.registry.set_device_status(
        city.air.device_id, DeviceStatus.SUSPENDED, OPERATOR, "inspection"
    )
    platform.gate.ingest([noisy(city, city.air, 1)])
    item = only_held(platform)
    platform.registry.set_device_status(city.air.device_id, DeviceStatus.ACTIVE, OPERATOR, "ok")
    warm(platform, city.air)
    out = platform.quarantine.replay(item.id, OPERATOR, "inspection done")
    assert out.admitted == 1
    [row] = platform.store.readings()
    assert msgspec.json.decode(row.body) == {"pm25": 12.5}
    assert EMAIL not in all_rows(platform)


def test_text_where_a_number_belongs_is_not_kept_only_its_decision(
    platform: Platform, city: SampleCity
) -> None:
    now = platform.clock.now()
    bodies = [
        city.envelope(city.air, [air_reading(now, pm25=EMAIL)]),  # a string in a number
        city.envelope(city.air, [air_reading(now, pm25={"who": EMAIL})]),  # a structure
        city.envelope(city.air, [air_reading(now, pm25=[EMAIL])]),
    ]
    outs = platform.gate.ingest(bodies)
    assert [o.rejected for o in outs] == [{"WRONG_TYPE": 1}] * 3
    assert [(o.quarantined, o.dropped) for o in outs] == [(0, 1)] * 3
    assert platform.store.count_quarantine() == 0
    assert platform.store.rejections_by_reason() == {"WRONG_TYPE": 3}
    assert_no_trace(platform, EMAIL)


def test_a_unit_that_is_not_the_declared_one_is_not_kept(
    platform: Platform, city: SampleCity
) -> None:
    now = platform.clock.now()
    r = air_reading(now)
    r.units = {"pm25": EMAIL}
    [out] = platform.gate.ingest([city.envelope(city.air, [r])])
    assert out.rejected == {"WRONG_UNIT": 1} and out.dropped == 1
    assert platform.store.count_quarantine() == 0
    assert_no_trace(platform, EMAIL)


def test_a_category_the_project_does_not_declare_leaves_only_its_decision(
    platform: Platform, city: SampleCity
) -> None:
    # water.level is declared non-personal by the flood project, not by the air project:
    # there are no declared fields to keep.
    now = platform.clock.now()
    [out] = platform.gate.ingest([city.envelope(city.air, [water(now)])])
    assert out.rejected == {"UNDECLARED_CATEGORY": 1} and out.dropped == 1
    assert out.reading_reasons == [(0, "UNDECLARED_CATEGORY", "water.level")]
    assert platform.store.count_quarantine() == 0


def test_a_held_item_expires_with_the_shortest_retention_its_project_declares(
    platform: Platform, city: SampleCity
) -> None:
    now = platform.clock.now()
    platform.gate.ingest([city.envelope(city.air, [air_reading(now, pm25=-5)])])
    item = only_held(platform)
    assert item.expires_at == item.received_at + int(timedelta(days=730).total_seconds() * 1000)
