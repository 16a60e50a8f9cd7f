"""The city services in `charter demo`: each a short scenario on its simulated city.

Each entry runs one service the way its `charter sim …` scenario does, only
shorter: its devices sign their readings and send them through the gate, the
service host feeds the service the admitted ones, the service's commands are
signed and verified by its actuators, each keeping its fail-safe. Each runs
on a platform of its own, on a simulated clock (minutes of traffic or days of
weather in a second or two), beside the demo's live API.

To add a service to the demo, append one line to `DEMO_SERVICES`:

    DemoService("preemption", my_scenario, lambda f: f"{f['granted']} requests granted"),

where `my_scenario()` returns its figures (a dict, JSON-friendly) and the
lambda turns them into one line for the console.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Figures = dict[str, Any]


@dataclass(frozen=True)
class DemoService:
    name: str
    run: Callable[[], Figures]
    headline: Callable[[Figures], str]


def sumo_installed() -> bool:
    return importlib.util.find_spec("libsumo") is not None


def signals() -> Figures:
    """Adaptive signals on the built-in junction model (SUMO's networks are for `charter sim`)."""
    from charter.sim.junction import compare

    figures = compare(end_s=900.0)
    figures["simulator"] = "built-in junction model"
    figures["sumo_installed"] = sumo_installed()
    return figures


def snowmelt() -> Figures:
    """Snow-melting sidewalks over the committed February 2013 blizzard (96 hours)."""
    from charter.sim.snowmelt import cli, weather

    return cli.figures(weather.EXCERPT)


def hazard() -> Figures:
    """Flood watch: an 8-hour storm on one gauge, a quiet record on the other."""
    from charter.sim.hazard import scenario as s

    run = s.replay({0: list(s.event(hours=8, seed=11, onset_h=1)), 1: list(s.quiet(8, seed=9))})
    raised = [(zone, level) for zone, level, _t in run["raised"]]
    return {
        "alerts_raised": len(raised),
        "levels": sorted({level for _z, level in raised}),
        "zones": sorted({zone for zone, _l in raised}),
        "alerts_delivered": sum(run["delivered"].values()),
        "sensors_flagged": run["flags"],
    }


def _signals_line(f: Figures) -> str:
    where = (
        "on the built-in junction model (SUMO is installed: `charter sim signals` runs them "
        "on a real street network)"
        if f["sumo_installed"]
        else "on the built-in junction model (SUMO is not installed)"
    )
    return (
        f"{where}: mean delay {f['delay_fixed_s']} s fixed-time → {f['delay_adaptive_s']} s "
        f"adaptive ({f['reduction_vs_fixed']:.0%} less), {f['plans_sent']} signed plans, "
        f"{f['safety_violations']} safety violations"
    )


def preemption() -> Figures:
    """An ambulance through three junctions of the built-in model, with and without."""
    from charter.sim.demo_street import preemption as run

    figures = run()
    figures["sumo_installed"] = sumo_installed()
    return figures


def crossing() -> Figures:
    """The accessible crossing on the built-in model: one resident consents, one not."""
    from charter.sim.demo_street import crossing as run

    return run()


def _preemption_line(f: Figures) -> str:
    return (
        f"on the built-in junction model: an ambulance through {f['junctions']} junctions in "
        f"{f['travel_time_with_s']} s (without preemption {f['travel_time_without_s']} s, "
        f"{f['reduction']:.0%} less), {f['granted']} requests granted, "
        f"{f['safety_violations']} safety violations"
    )


def _crossing_line(f: Figures) -> str:
    return (
        f"on the built-in junction model: consented slow pedestrian "
        f"{'/'.join(f['consented'])}, +{f['extra_walk_s']} s walk and "
        f"+{f['extra_clearance_s']} s clearance ({f['extensions_served']} served), "
        f"{f['alerts_verified']} anonymous alert to vehicles; not consented "
        f"{'/'.join(f['not_consented'])}, {f['stored_about_not_consented']} readings stored"
    )


DEMO_SERVICES: list[DemoService] = [
    DemoService("adaptive signals", signals, _signals_line),
    DemoService(
        "snow-melt",
        snowmelt,
        lambda f: (
            f"blizzard of Feb 2013, {f['segments']} heated segments: "
            f"{f['energy_saving']:.0%} less energy than thermostats, "
            f"icy hours {f['icy_hours_charter']} "
            f"(thermostats {f['icy_hours_baseline']})"
        ),
    ),
    DemoService(
        "hazard",
        hazard,
        lambda f: (
            f"storm on a river gauge: {f['alerts_raised']} alerts "
            f"({', '.join(f['levels'])}) in {', '.join(f['zones']) or 'no zone'} only, "
            f"{f['alerts_delivered']} delivered to opted-in subscribers"
        ),
    ),
    DemoService("preemption", preemption, _preemption_line),
    DemoService("accessible crossing", crossing, _crossing_line),
]


def run_services(say: Callable[[str], None]) -> dict[str, Figures]:
    """Run every demo service's scenario; say one line for each."""
    out: dict[str, Figures] = {}
    for service in DEMO_SERVICES:
        try:
            figures = service.run()
        except Exception as e:
            say(f"service {service.name}: did not run ({type(e).__name__})")
            out[service.name] = {"error": type(e).__name__}
            continue
        out[service.name] = figures
        say(f"service {service.name}: {service.headline(figures)}")
    return out
