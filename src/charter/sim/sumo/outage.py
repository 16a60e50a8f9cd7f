"""Kill the platform mid-scenario: every signal falls back alone, safely, and rejoins.

The platform (gate, services, the commands' channel) runs on the simulation's
clock and drives every signal through the adaptive-signals service. For
`outage_s` it is gone: no counts are decided, no commands or heartbeats
leave. Each controller must be on its own fixed-time plan within its
`max_silence` (two heartbeat periods), never show an unsafe state on the way
there or back, and rejoin on the first verified command after the outage.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from charter.sim.sumo.city import START, adaptive_service, build_city, drive
from charter.sim.sumo.network import random_trips, read_net
from charter.sim.sumo.run import signal_rules, simulation


def run_outage(
    net_file: Path,
    work: Path,
    *,
    seed: int = 1,
    period_s: float = 1.2,
    outage_at_s: float = 420.0,
    outage_s: float = 60.0,
    end_s: float = 600.0,
    heartbeat_s: float = 1.0,
    step_s: float = 0.5,
    progress: Callable[[float], None] | None = None,
) -> dict[str, Any]:
    net = read_net(net_file)
    rules = signal_rules(net_file)
    routes = random_trips(net_file, work / "bg.rou.xml", period_s=period_s, end_s=end_s, seed=seed)
    city = build_city(net, work / "city", heartbeat_s=heartbeat_s)
    silence = 2 * heartbeat_s
    host = city.platform.services
    try:
        with simulation(
            net_file, [routes], step_s=step_s, seed=seed, end_s=end_s, rules=rules,
            additional=[city.additional],
        ) as sim:  # fmt: skip
            city.attach_controllers(sim.traci, net, rules, silence)
            service = adaptive_service(city, update_s=120)
            host.add(service)
            host.start()
            back = outage_at_s + outage_s
            drive(
                city,
                sim,
                end_s,
                platform_up=lambda t: not (outage_at_s <= t < back),
                progress=progress,
            )
            violations = list(sim.monitor.violations)
    finally:
        city.platform.close()
    fallbacks, rejoins = [], []
    t0 = START.timestamp()  # simulation second 0 on the platform's clock
    for ctrl in city.controllers.values():
        safe = [t - t0 for t, m in ctrl.mode_changes if m == "safe" and t - t0 >= outage_at_s]
        remote = [t - t0 for t, m in ctrl.mode_changes if m == "remote" and t - t0 >= back]
        if safe:
            fallbacks.append(safe[0] - outage_at_s)
        if remote:
            rejoins.append(remote[0] - back)
    refused = sum(sum(c.refused.values()) for c in city.controllers.values())
    return {
        "controllers": len(city.controllers),
        "fell_back": len(fallbacks),
        "worst_fallback_s": round(max(fallbacks), 2) if fallbacks else None,
        "bound_s": silence,
        "rejoined": len(rejoins),
        "worst_rejoin_s": round(max(rejoins), 2) if rejoins else None,
        "safety_violations": len(violations),
        "violation_kinds": sorted({v.kind for v in violations}),
        "commands_refused": refused,
        "plans_sent": service.plans_sent,
        "outage_s": outage_s,
        "period_s": period_s,
        "seed": seed,
    }
