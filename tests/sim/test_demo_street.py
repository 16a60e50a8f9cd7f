"""The demo's preemption and accessible crossing on the built-in junction model (no SUMO)."""

from __future__ import annotations

from charter.sim.demo_street import crossing, preemption


def test_the_ambulance_gets_its_greens_and_arrives_sooner_with_the_invariant_held() -> None:
    f = preemption()
    assert f["simulator"] == "built-in junction model"
    assert f["granted"] == f["junctions"] == 3  # every junction on its route
    assert f["statuses_on_record"] == f["ssm_received"]  # every status it got is recorded
    assert f["travel_time_with_s"] < f["travel_time_without_s"]
    assert f["safety_violations"] == 0 and f["commands_refused"] == 0


def test_consent_decides_who_gets_more_time_and_nothing_is_kept_of_the_others() -> None:
    f = crossing()
    assert f["consented"] == ["admitted"] and f["extensions_served"] == 1
    # Stepping off as the walk ends, a 0.9 m/s walker needs more than the standard
    # clearance (set for 1.07 m/s), and the extended one covers it.
    needs, clearance = f["slow_crossing_needs_s"], f["clearance_s"]
    assert clearance < needs <= clearance + f["extra_clearance_s"]
    assert f["extra_walk_s"] > 0
    assert f["alerts_verified"] == f["alerts_broadcast"] == 1
    assert not {"id", "subject", "fob", "pseudonym"} & set(f["alert_fields"])  # anonymous
    assert f["not_consented"] == ["NO_CONSENT"] and f["stored_about_not_consented"] == 0
    assert f["safety_violations"] == 0
