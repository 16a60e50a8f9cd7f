"""Adaptive timing over local actuation: maximum greens from counts, spill-back cuts."""

from __future__ import annotations

from charter.services.base import Reading
from charter.services.signal_timing import AdaptiveTiming
from charter.services.signals import Junction, PlanPhase

MAIN, SIDE, EXIT = "urn:loop:main", "urn:loop:side", "urn:loop:exit"


def _junction() -> Junction:
    phases = (
        PlanPhase("GGr", 37.0, 5.0, 50.0),  # main street, two links
        PlanPhase("yyr", 3.0, 3.0, 3.0),
        PlanPhase("rrG", 20.0, 5.0, 50.0),  # side street
        PlanPhase("rry", 3.0, 3.0, 3.0),
    )
    return Junction(
        "urn:signal:1",
        phases,
        {MAIN: (0, 1), SIDE: (2,)},
        exits={0: (EXIT,), 1: (EXIT,)},
    )


def _reading(device: str, vehicles: int, occupancy: float, t_ms: int) -> Reading:
    values = {"vehicles": vehicles, "occupancy": occupancy}
    return Reading(device, "traffic", "traffic.count", t_ms, t_ms, 1, values)


def _caps(service: AdaptiveTiming, t_ms: int, exit_occupancy: float) -> list[float | None]:
    intents = service.on_readings(
        [
            _reading(MAIN, 1, 30.0, t_ms),
            _reading(SIDE, 0, 0.0, t_ms),
            _reading(EXIT, 0, exit_occupancy, t_ms),
        ],
        t_ms,
    )
    if intents:
        assert intents[-1].action == "signal.timing"
        service._sent[intents[-1].target] = intents[-1].params["max_green_s"]
    return service._sent["urn:signal:1"]


def test_a_controller_first_gets_its_programs_own_maxima() -> None:
    service = AdaptiveTiming([_junction()], interval_s=2.0)
    (intent,) = service.on_tick(0)
    assert intent.action == "signal.timing"
    assert intent.params == {"max_green_s": [50.0, None, 50.0, None]}
    assert service.on_tick(1000) == []  # told once; later only when the maxima change


def test_a_green_into_a_full_street_gets_its_minimum_and_back_when_it_empties() -> None:
    service = AdaptiveTiming([_junction()], interval_s=2.0, webster=False, spill_s=2.0)
    service.on_tick(0)
    assert _caps(service, 2000, exit_occupancy=10.0) == [50.0, None, 50.0, None]
    assert _caps(service, 4000, exit_occupancy=100.0) == [5.0, None, 50.0, None]
    assert service.spill_cuts >= 1
    assert _caps(service, 6000, exit_occupancy=0.0) == [50.0, None, 50.0, None]


def test_webster_sets_maxima_within_the_programmed_green_and_the_programs_maximum() -> None:
    service = AdaptiveTiming([_junction()], interval_s=2.0, update_s=10.0, spillback=False)
    service.on_tick(0)
    caps: list[float | None] = []
    for t in range(2000, 14000, 2000):
        caps = _caps(service, t, exit_occupancy=0.0)
    assert service.updates == 1
    main, side = caps[0], caps[2]
    assert main is not None and side is not None
    assert 37.0 <= main <= 50.0  # never below the programmed green, never above the maximum
    assert side == 20.0  # nobody on the side street: its programmed green, no more
    assert caps[1] is None and caps[3] is None  # yellows are the program's own


def _window(service: AdaptiveTiming, main_occupancy: float) -> list[float | None]:
    """One update window: a trickle on the main street (1 vehicle per 4 s), none on the side."""
    service.on_tick(0)
    caps: list[float | None] = []
    for t in range(2000, 14000, 2000):
        intents = service.on_readings(
            [
                _reading(MAIN, t // 2000 % 2, main_occupancy, t),
                _reading(SIDE, 0, 0.0, t),
                _reading(EXIT, 0, 0.0, t),
            ],
            t,
        )
        for intent in intents:
            service._sent[intent.target] = intent.params["max_green_s"]
        caps = service._sent["urn:signal:1"]
    assert service.updates == 1
    return caps


def test_a_saturated_phase_keeps_the_programs_maximum_when_asked_to() -> None:
    # A queue stands over the main street's loop most of the window: its counts are what
    # the green let through, so the service gives it no less than plain actuation would.
    saturated = AdaptiveTiming(
        [_junction()], interval_s=2.0, update_s=10.0, headroom=1.0, saturation=True
    )
    assert _window(saturated, main_occupancy=60.0)[0] == 50.0
    assert saturated.saturated >= 1
    # The same counts with the loop mostly free: Webster's split, below the maximum.
    flowing = AdaptiveTiming([_junction()], interval_s=2.0, update_s=10.0, headroom=1.0)
    main = _window(flowing, main_occupancy=10.0)[0]
    assert main is not None and 37.0 <= main < 50.0
    assert flowing.shortened >= 1


def test_a_full_exit_cuts_a_green_only_while_vehicles_wait_for_it() -> None:
    service = AdaptiveTiming([_junction()], interval_s=2.0, webster=False, spill_s=2.0)
    service.on_tick(0)
    idle = service.on_readings([_reading(MAIN, 0, 0.0, 2000), _reading(EXIT, 0, 100.0, 2000)], 2000)
    assert idle == [] and service.spill_cuts == 0  # nobody waits for the full street
    assert _caps(service, 4000, exit_occupancy=60.0) == [5.0, None, 50.0, None]
    assert _caps(service, 6000, exit_occupancy=70.0) == [5.0, None, 50.0, None]
    assert service.spill_cuts == 1  # one cut, however long it lasts


def test_a_queue_standing_over_an_approach_loop_gives_back_the_maximum_at_once() -> None:
    service = AdaptiveTiming(
        [_junction()], interval_s=2.0, update_s=10.0, headroom=1.0, queue_s=4.0, saturation=True
    )
    main = _window(service, main_occupancy=10.0)[0]
    assert main is not None and main < 50.0  # Webster shortened it
    caps: list[float | None] = []
    for t in range(14000, 20000, 2000):  # a queue stands over the main street's loop
        intents = service.on_readings([_reading(MAIN, 0, 100.0, t)], t)
        for intent in intents:
            service._sent[intent.target] = intent.params["max_green_s"]
        caps = service._sent["urn:signal:1"]
    assert caps[0] == 50.0  # the program's own maximum, before the next update
