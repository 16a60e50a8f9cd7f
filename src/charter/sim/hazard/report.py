"""`charter sim hazard --report out.html`: the hydrograph with its thresholds and the
times alerts were raised, the quiet record, and the seismic record's peak accelerations."""

from __future__ import annotations

from typing import Any

from charter.services.hazard import HazardPlan
from charter.sim.hazard.html import page, svg

COLOURS = {"warning": "#e67e22", "danger": "#c0392b"}


def _hydrograph(run: dict[str, Any], title: str, step_min: float = 1.0) -> str:
    plan: HazardPlan = run["plan"]
    rule = next(t for t in plan.thresholds if t.category == "water.level")
    start = min(at for _, _, at in run["raised"]) if run["raised"] else None

    def draw(fig: Any) -> None:
        ax = fig.subplots()
        for i, levels in run["series"].items():
            hours = [k * step_min / 60 for k in range(1, len(levels) + 1)]
            ax.plot(hours, levels, lw=1, label=f"gauge in {plan.zones[i].id}")
        ax.axhline(rule.warning, color=COLOURS["warning"], ls="--", label="warning level")
        ax.axhline(rule.danger, color=COLOURS["danger"], ls="--", label="danger level")
        if start is not None:
            first = run["first_ms"]
            for zone, level, at in run["raised"]:
                h = (at - first) / 3_600_000
                ax.axvline(h, color=COLOURS[level], lw=2, alpha=0.7)
                ax.annotate(f"{level} alert, {zone}", (h, 0.97), xycoords=ax.get_xaxis_transform(),
                            rotation=90, fontsize=8, ha="right", va="top",
                            color=COLOURS[level])  # fmt: skip
        ax.set_xlabel("hours into the record")
        ax.set_ylabel(f"level ({rule.unit})")
        ax.set_title(title)
        ax.legend(loc="center right", fontsize=8)

    return svg(draw, height=3.6)


def _seismic(quiet: dict[str, Any] | None, event: dict[str, Any] | None) -> str | None:
    if event is None or quiet is None:
        return None
    from charter.sim.hazard.seismic import quake_plan

    rule = quake_plan().thresholds[0]

    def draw(fig: Any) -> None:
        ax = fig.subplots()
        secs = event["seconds"]
        ax.plot([s.t_s for s in secs], [s.pga for s in secs], marker="o", ms=3, label="event")
        q = quiet["seconds"]
        ax.plot([s.t_s for s in q], [s.pga for s in q], "x", color="#555", label="quiet seconds")
        ax.axhline(rule.warning, color=COLOURS["warning"], ls="--", label="warning PGA")
        ax.axhline(rule.danger, color=COLOURS["danger"], ls="--", label="danger PGA")
        for _zone, level, at in event["raised"]:
            t = (at - event["first_ms"]) / 1000 - 1  # second k is read at k + 1 s
            ax.axvline(t, color=COLOURS[level], lw=2, alpha=0.7)
        ax.set_xlabel("seconds into the record (BW.RJOB, 2009-08-24 00:20:03 UTC)")
        ax.set_ylabel("peak ground acceleration, m/s² (x25000)")
        ax.set_title("The real example seismogram, second by second, and the alert")
        ax.legend(fontsize=8)

    return svg(draw, height=3.4)


def render(figures: dict[str, Any], runs: dict[str, Any]) -> str:
    plots = [
        ("Event record: the storm hydrograph", _hydrograph(runs["event"], "Event record")),
        ("Quiet record: 48 hours, nothing raised", _hydrograph(runs["quiet"], "Quiet record")),
    ]
    quake = _seismic(runs.get("seismic_quiet"), runs.get("seismic_event"))
    if quake is not None:
        plots.append(("Seismic: a real seismogram", quake))
    return page(
        "Flood and strong-shaking early warning",
        "The river records are synthetic (documented in charter.sim.hazard.scenario); the "
        "rain gauge's quiet record is JFK's real hourly precipitation over the February 2013 "
        "blizzard; the seismogram is ObsPy's real example record, its amplitude scaled. "
        "Vertical lines: the moments alerts were raised.",
        figures,
        plots,
    )
