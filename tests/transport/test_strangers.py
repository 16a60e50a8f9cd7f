"""Nothing a stranger sends changes what happens to a device's own envelopes.

A forged envelope names a real device and a sequence number of the forger's
choosing. It is refused; its refusal must not make the genuine envelope with
that (device, seq), redelivered or straggling, look already decided, nor count
against the device's project. On both stores.
"""

from __future__ import annotations

import threading
from dataclasses import replace

from charter.bootstrap import Platform
from charter.device import DeviceSigner
from charter.sim.city import AIR
from charter.transport.redelivery import Delivered, already_decided, deliver
from tests.conftest import SampleCity, air_reading


def forged(city: SampleCity, genuine: DeviceSigner, seq: int) -> bytes:
    """An envelope naming `genuine` and `seq`, signed by someone else's key."""
    forger = DeviceSigner(genuine.device_id)
    now = city.platform.clock.now()
    return forger.envelope(seq, now, [air_reading(now, pm25=666.0)])


def test_a_forged_refusal_does_not_make_the_redelivered_genuine_copy_done(
    any_platform: Platform,
) -> None:
    city = SampleCity(any_platform)
    now = any_platform.clock.now()
    genuine = city.envelope(city.air, [air_reading(now, pm25=1.0)], seq=5)
    got = deliver(any_platform.gate, [forged(city, city.air, 5)], [False])
    assert got.outcomes[0].rejection is not None
    assert got.outcomes[0].rejection.reason.value == "BAD_SIGNATURE"
    # The genuine envelope's first delivery was lost (a crashed worker); its copy comes again.
    assert not already_decided(any_platform.store, genuine)
    again = deliver(any_platform.gate, [genuine], [True])
    assert again.done == 0 and again.admitted == 1
    assert [r.seq for r in any_platform.store.readings()] == [5]


def test_a_forged_refusal_does_not_turn_a_genuine_straggler_into_a_replay(
    any_platform: Platform,
) -> None:
    city = SampleCity(any_platform)
    now = any_platform.clock.now()
    one = city.envelope(city.air, [air_reading(now, pm25=1.0)], seq=1)
    two = city.envelope(city.air, [air_reading(now, pm25=2.0)], seq=2)
    deliver(any_platform.gate, [forged(city, city.air, 1)], [False])
    deliver(any_platform.gate, [two], [False])  # another worker went on
    got = deliver(any_platform.gate, [one], [False])  # the straggler
    assert got.late == 1 and got.admitted == 1, [o.to_json() for o in got.outcomes]
    assert sorted(r.seq for r in any_platform.store.readings()) == [1, 2]


def test_a_refusal_of_the_genuine_envelope_still_makes_its_copy_done(
    any_platform: Platform,
) -> None:
    city = SampleCity(any_platform)
    now = any_platform.clock.now()
    # Signed by the device, refused (its reading's category is not the device's).
    wrong = city.envelope(city.air, [replace(air_reading(now), category="water.level")], seq=3)
    [out] = deliver(any_platform.gate, [wrong], [False]).outcomes
    assert out.rejection is not None or out.rejected
    assert already_decided(any_platform.store, wrong)
    assert deliver(any_platform.gate, [wrong], [True]).done == 1


def test_strangers_do_not_count_against_a_project(any_platform: Platform) -> None:
    city = SampleCity(any_platform)
    deliver(any_platform.gate, [forged(city, city.air, 9)], [False])
    assert any_platform.store.rejections_by_reason() == {"BAD_SIGNATURE": 1}
    assert any_platform.store.rejections_by_reason_of(AIR) == {}


def test_a_forgery_dressed_as_a_straggler_is_refused_without_the_gates_lock(
    platform: Platform, city: SampleCity
) -> None:
    """Its signature is checked before the gate's lock and a transaction are taken:
    refused while another batch holds the gate."""
    deliver(platform.gate, [city.envelope(city.air, seq=2)], [False])
    fake = forged(city, city.air, 1)  # behind the device's number, and fresh
    got: list[Delivered] = []
    with platform.gate.exclusive():
        worker = threading.Thread(
            target=lambda: got.append(deliver(platform.gate, [fake], [False]))
        )
        worker.start()
        worker.join(timeout=30)  # a guard against waiting for ever, not a speed limit
        finished = not worker.is_alive()
    worker.join()
    assert finished, "the forged straggler waited for the gate's lock"
    [out] = got[0].outcomes
    assert out.rejection is not None and out.rejection.reason.value == "BAD_SIGNATURE"
