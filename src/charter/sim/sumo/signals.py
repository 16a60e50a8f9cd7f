"""Adaptive signal timing against the fixed-time plans and SUMO's actuated control.

Three runs of the same traffic (same routes, same seed): the fixed-time plans
(each program's phases at their programmed durations, run by the controllers
on their own), SUMO's own actuated control (the programs as the net file
defines them), and Charter's adaptive service driving the controllers from
loop counts sent through the gate. The measure is the mean time loss of the
vehicles that departed in a fixed window after a warm-up, each vehicle's
whole trip counted (`tripinfo` timeLoss, unfinished trips included).
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

from charter.sim.sumo.city import adaptive_service, build_city, drive
from charter.sim.sumo.network import background, read_net
from charter.sim.sumo.run import signal_rules, simulation

MODES = ("fixed", "actuated", "adaptive")


def mean_time_loss(tripinfo: Path, start_s: float, end_s: float) -> tuple[float, int]:
    """Mean timeLoss (s) of the vehicles that departed in [start_s, end_s)."""
    losses = []
    for trip in ET.parse(tripinfo).getroot().iter("tripinfo"):  # noqa: S314
        depart = float(trip.get("depart", "-1"))
        if start_s <= depart < end_s:
            losses.append(float(trip.get("timeLoss", "0")))
    return (sum(losses) / len(losses) if losses else 0.0), len(losses)


def run_mode(
    mode: str,
    net_file: Path,
    routes: Path,
    work: Path,
    *,
    seed: int,
    warmup_s: float,
    window_s: float,
    drain_s: float,
    step_s: float,
    update_s: float,
    progress: Callable[[float], None] | None = None,
    service_kw: dict[str, Any] | None = None,
) -> dict[str, Any]:
    end_s = warmup_s + window_s + drain_s
    net = read_net(net_file)
    rules = signal_rules(net_file)
    city = build_city(net, work / f"city-{mode}")
    tripinfo = work / f"tripinfo-{mode}.xml"
    service = None
    try:
        with simulation(
            net_file, [routes], step_s=step_s, seed=seed, end_s=end_s, rules=rules,
            additional=[city.additional], tripinfo=tripinfo,
        ) as sim:  # fmt: skip
            host = city.platform.services
            if mode != "actuated":
                city.attach_controllers(sim.traci, net, rules, 2 * host.heartbeat_s)
            if mode == "adaptive":
                service = adaptive_service(city, update_s=update_s, **(service_kw or {}))
                host.add(service)
                host.start()
            up = (lambda _t: True) if service is not None else None
            drive(city, sim, end_s, platform_up=up, progress=progress)
            violations = len(sim.monitor.violations)
            report = service.report() if service is not None else {}
    finally:
        city.platform.close()
    loss, vehicles = mean_time_loss(tripinfo, warmup_s, warmup_s + window_s)
    return {
        "time_loss_s": loss,
        "vehicles": vehicles,
        "violations": violations,
        "plans_sent": service.plans_sent if service else 0,
        "decisions": report,
    }


def run_signals(
    net_file: Path,
    work: Path,
    *,
    seed: int = 1,
    seeds: int = 1,
    period_s: float = 1.2,
    routes: Path | None = None,
    warmup_s: float = 600.0,
    window_s: float = 900.0,
    drain_s: float = 300.0,
    step_s: float = 0.5,
    update_s: float = 300.0,
    modes: tuple[str, ...] = MODES,
    progress: Callable[[str, float], None] | None = None,
    service_kw: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The three controls on the same traffic, for seeds seed … seed + seeds - 1.

    Each seed has its own background demand (randomTrips.py, or `routes` as given)
    and simulation seed; the figures are means over the seeds, each mean time loss
    over the vehicles that departed in the same fixed window.
    """
    demand_end = warmup_s + window_s
    per_seed: list[dict[str, Any]] = []
    for s in range(seed, seed + seeds):
        run_dir = work / f"seed-{s}"
        run_dir.mkdir(parents=True, exist_ok=True)
        bg = background(
            net_file, run_dir / "bg.rou.xml", routes=routes, period_s=period_s,
            end_s=demand_end, seed=s,
        )  # fmt: skip
        results = {}
        for mode in modes:
            report = None
            if progress is not None:
                report = _reporter(progress, mode, s - seed, seeds)
            results[mode] = run_mode(
                mode, net_file, bg, run_dir, seed=s, warmup_s=warmup_s, window_s=window_s,
                drain_s=drain_s, step_s=step_s, update_s=update_s, progress=report,
                service_kw=service_kw,
            )  # fmt: skip
        per_seed.append(results)
    figures: dict[str, Any] = {}
    for mode in modes:
        figures[f"time_loss_{mode}_s"] = round(_mean(r[mode]["time_loss_s"] for r in per_seed), 2)
    if "fixed" in modes and "adaptive" in modes:
        fixed, adaptive = figures["time_loss_fixed_s"], figures["time_loss_adaptive_s"]
        figures["reduction_vs_fixed"] = round(1 - adaptive / fixed, 4) if fixed > 0 else 0.0
    if "actuated" in modes and "adaptive" in modes:
        actuated = figures["time_loss_actuated_s"]
        adaptive = figures["time_loss_adaptive_s"]
        figures["reduction_vs_actuated"] = round(1 - adaptive / actuated, 4) if actuated else 0.0
    for mode in modes:
        figures[f"per_seed_{mode}_s"] = [round(r[mode]["time_loss_s"], 1) for r in per_seed]
    # Paired over the seeds (each seed is the same traffic under every control).
    if "fixed" in modes and "adaptive" in modes:
        cuts = [
            1 - r["adaptive"]["time_loss_s"] / r["fixed"]["time_loss_s"]
            for r in per_seed
            if r["fixed"]["time_loss_s"] > 0
        ]
        figures["paired_reduction_vs_fixed"] = round(_mean(cuts), 4)
        figures["paired_reduction_vs_fixed_ci95"] = _ci95(cuts, 4)
    if "actuated" in modes and "adaptive" in modes:
        diffs = [r["adaptive"]["time_loss_s"] - r["actuated"]["time_loss_s"] for r in per_seed]
        figures["paired_diff_vs_actuated_s"] = round(_mean(diffs), 2)
        figures["paired_diff_vs_actuated_ci95_s"] = _ci95(diffs, 2)
    if "adaptive" in modes:
        figures["decisions"] = {
            k: sum(int(r["adaptive"]["decisions"].get(k, 0)) for r in per_seed)
            for k in per_seed[0]["adaptive"]["decisions"]
        }
    main = "adaptive" if "adaptive" in modes else modes[0]
    figures["vehicles"] = sum(r[main]["vehicles"] for r in per_seed)
    figures["plans_sent"] = sum(r[main]["plans_sent"] for r in per_seed)
    figures["safety_violations"] = sum(
        r[m]["violations"] for r in per_seed for m in modes if m != "actuated"
    )
    figures.update(
        period_s=period_s,
        window_s=window_s,
        seeds=list(range(seed, seed + seeds)),
        routes=routes.name if routes is not None else "randomTrips",
    )
    return figures


# Student's t, two-sided 95%, by degrees of freedom (1…10); beyond, the normal's 1.96.
_T95 = (12.71, 4.30, 3.18, 2.78, 2.57, 2.45, 2.36, 2.31, 2.26, 2.23)


def _ci95(xs: list[float], digits: int) -> list[float] | None:
    """A 95% confidence interval of the mean of paired differences (None for one seed)."""
    n = len(xs)
    if n < 2:
        return None
    m = sum(xs) / n
    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (n - 1))
    t = _T95[n - 2] if n - 1 <= len(_T95) else 1.96
    half = t * sd / math.sqrt(n)
    return [round(m - half, digits), round(m + half, digits)]


def _mean(values: Any) -> float:
    xs = list(values)
    return sum(xs) / len(xs) if xs else 0.0


def _reporter(
    progress: Callable[[str, float], None], mode: str, done: int, seeds: int
) -> Callable[[float], None]:
    return lambda fraction: progress(mode, (done + fraction) / seeds)
