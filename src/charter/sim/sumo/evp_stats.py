"""The experiment's figures from its paired trips: mean travel times against the
free-flow limit (for the whole trip, and until each trip's last signal), others' extra
time loss, and its paired bootstrap 95% interval."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from charter.sim.sumo.evp_variants import VARIANTS


def bootstrap_ci(
    pairs: Sequence[tuple[float, float]], *, rounds: int = 2000, seed: int = 7
) -> tuple[float, float]:
    """95% CI of sum(a)/sum(b) - 1 over trips resampled with replacement (paired)."""
    rng = random.Random(seed)
    n = len(pairs)
    if n == 0:
        return (0.0, 0.0)
    stats = []
    for _ in range(rounds):
        sample_ = [pairs[rng.randrange(n)] for _ in range(n)]
        b = sum(p[1] for p in sample_)
        stats.append(sum(p[0] for p in sample_) / b - 1 if b > 0 else 0.0)
    stats.sort()
    return (stats[int(0.025 * rounds)], stats[int(0.975 * rounds) - 1])


def summarise(results: list[dict[str, Any]], period_s: float, n_trips: int) -> dict[str, Any]:
    by: dict[str, dict[int, dict[str, Any]]] = {v: {} for v in VARIANTS}
    for r in results:
        if "error" not in r:
            by[r["variant"]][r["trip"]] = r
    complete = [
        k
        for k in by["none"]
        if all(k in by[v] and by[v][k]["travel_s"] is not None for v in VARIANTS)
        and by["none"][k].get("free_s") is not None
    ]

    def mean(xs: list[float]) -> float:
        return sum(xs) / len(xs) if xs else 0.0

    t_none = mean([by["none"][k]["travel_s"] for k in complete])
    t_base = mean([by["baseline"][k]["travel_s"] for k in complete])
    t_ch = mean([by["charter"][k]["travel_s"] for k in complete])
    t_free = mean([by["none"][k]["free_s"] for k in complete])

    def cut(t: float) -> float:
        return 1 - t / t_none if t_none > 0 else 0.0

    def others(v: str) -> tuple[float, list[tuple[float, float]]]:
        pairs = [(by[v][k]["others_loss_s"], by["none"][k]["others_loss_s"]) for k in complete]
        base = sum(p[1] for p in pairs)
        return (sum(p[0] for p in pairs) / base - 1 if base > 0 else 0.0), pairs

    achievable = cut(t_free)
    ch_delay, ch_pairs = others("charter")
    base_delay, _ = others("baseline")
    lo, hi = bootstrap_ci(ch_pairs)
    # The same cut, counted only until each trip reached its last signal: what the
    # controllers did, apart from the unsignalled road after it (and its jams).
    signalled = [
        k
        for k in complete
        if by["none"][k].get("free_to_last_signal_s") is not None
        and all(by[v][k].get("to_last_signal_s") is not None for v in VARIANTS)
    ]

    def until_last(v: str) -> float:
        return mean([by[v][k]["to_last_signal_s"] for k in signalled])

    s_none, s_free = (
        until_last("none"),
        mean([by["none"][k]["free_to_last_signal_s"] for k in signalled]),
    )

    def share_until_last(v: str) -> float:
        possible = s_none - s_free
        return round((s_none - until_last(v)) / possible, 4) if possible > 0 else 0.0

    violations = sum(r.get("violations", 0) for r in results)
    errors = [r["error"] for r in results if "error" in r]
    return {
        "ev_travel_time_reduction": round(cut(t_ch), 4),
        "achievable_reduction": round(achievable, 4),
        "share_of_achievable": round(cut(t_ch) / achievable, 4) if achievable > 0 else 0.0,
        "other_delay_increase": round(ch_delay, 4),
        "other_delay_ci95": [round(lo, 4), round(hi, 4)],
        "baseline_ev_travel_time_reduction": round(cut(t_base), 4),
        "baseline_share_of_achievable": round(cut(t_base) / achievable, 4)
        if achievable > 0
        else 0.0,
        "baseline_other_delay_increase": round(base_delay, 4),
        "to_last_signal_share_of_achievable": share_until_last("charter"),
        "baseline_to_last_signal_share_of_achievable": share_until_last("baseline"),
        "safety_violations": violations,
        "trips": len(complete),
        "period_s": period_s,
        "_means_s": {
            "none": round(t_none, 1),
            "baseline": round(t_base, 1),
            "charter": round(t_ch, 1),
            "free": round(t_free, 1),
        },
        "_means_to_last_signal_s": {
            "none": round(s_none, 1),
            "baseline": round(until_last("baseline"), 1),
            "charter": round(until_last("charter"), 1),
            "free": round(s_free, 1),
            "trips": len(signalled),
        },
        "_trips_planned": n_trips,
        "_errors": errors[:5],
    }
