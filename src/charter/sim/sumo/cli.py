"""`charter sim`: the city services on a real street network (SUMO)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress

from charter.cli_figures import figures_table, show_figures
from charter.domain.errors import CharterError

sim_app = typer.Typer(help="The city services on SUMO (needs charter[sim]).", no_args_is_help=True)
console = Console(stderr=True)

NetFile = Annotated[
    Path | None, typer.Option("--net", help="A SUMO .net.xml with signals [default: game/DRT]")
]


RoutesFile = Annotated[
    Path | None,
    typer.Option(
        "--routes",
        help="A SUMO .rou.xml to use as the background traffic [default: randomTrips.py "
        "with --period]",
        exists=True,
        dir_okay=False,
    ),
]


def _net(net: Path | None) -> Path:
    from charter.sim.sumo.network import default_net

    try:
        return net or default_net()
    except CharterError as e:
        console.print(f"[red]{e.reason.value}[/red] {e.detail}")
        raise typer.Exit(1) from None


def _show(title: str, figures: dict[str, Any], as_json: bool) -> None:
    table = figures_table(title)
    for key, value in figures.items():
        table.add_row(key.replace("_", " "), str(value))
    show_figures(console, table, figures, as_json)


@sim_app.command("outage")
def sim_outage(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON line last")] = False,
    net: NetFile = None,
    seed: Annotated[int, typer.Option(help="Seed of traffic and simulation")] = 1,
    period: Annotated[float, typer.Option(help="Background traffic: one trip every S s")] = 1.2,
    outage_at: Annotated[float, typer.Option(help="When the platform dies (s)")] = 420.0,
    outage: Annotated[float, typer.Option(help="How long it stays dead (s)")] = 60.0,
    end: Annotated[float, typer.Option(help="Simulated seconds")] = 600.0,
) -> None:
    """Kill the platform mid-scenario: worst fall-back time to fixed-time plans, violations."""
    from charter.sim.sumo.outage import run_outage

    net_file = _net(net)
    with tempfile.TemporaryDirectory() as work, Progress(console=console) as bar:
        task = bar.add_task("simulating", total=1.0)
        figures = run_outage(
            net_file,
            Path(work),
            seed=seed,
            period_s=period,
            outage_at_s=outage_at,
            outage_s=outage,
            end_s=end,
            progress=lambda f: bar.update(task, completed=f),
        )
    _show(f"outage of {outage:g} s on {net_file.name}", figures, as_json)


@sim_app.command("signals")
def sim_signals(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON line last")] = False,
    net: NetFile = None,
    seed: Annotated[int, typer.Option(help="Seed of traffic and simulation (the first)")] = 1,
    seeds: Annotated[
        int, typer.Option(min=1, help="Runs with seeds seed … seed+N-1; figures are their means")
    ] = 1,
    period: Annotated[float, typer.Option(help="Background traffic: one trip every S s")] = 1.2,
    routes: RoutesFile = None,
    warmup: Annotated[float, typer.Option(help="Warm-up before the window (s)")] = 600.0,
    window: Annotated[float, typer.Option(help="Departures measured over this window (s)")] = 900.0,
    update: Annotated[float, typer.Option(help="Adaptive plans updated every S s")] = 300.0,
) -> None:
    """Mean time loss: adaptive timing vs the fixed-time plans vs SUMO's actuated control."""
    from charter.sim.sumo.signals import MODES, run_signals

    net_file = _net(net)
    with tempfile.TemporaryDirectory() as work, Progress(console=console) as bar:
        tasks = {m: bar.add_task(m, total=1.0) for m in MODES}
        figures = run_signals(
            net_file,
            Path(work),
            seed=seed,
            seeds=seeds,
            period_s=period,
            routes=routes,
            warmup_s=warmup,
            window_s=window,
            update_s=update,
            progress=lambda m, f: bar.update(tasks[m], completed=f),
        )
    _show(f"signal timing on {net_file.name}", figures, as_json)


@sim_app.command("evp")
def sim_evp(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON line last")] = False,
    net: NetFile = None,
    routes: Annotated[
        Path | None, typer.Option("--routes", help="Background routes [default: randomTrips.py]")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of traffic, trips and simulation")] = 1,
    period: Annotated[float, typer.Option(help="Background traffic: one trip every S s")] = 1.0,
    trips: Annotated[int, typer.Option(help="Paired emergency trips")] = 30,
    window: Annotated[float, typer.Option(help="Others' time loss over S s from the fork")] = 900.0,
    warmup: Annotated[float, typer.Option(help="Warm-up before the first trip (s)")] = 600.0,
    report: Annotated[
        Path | None, typer.Option("--report", help="Write an HTML report with plots")
    ] = None,
) -> None:
    """Emergency-vehicle preemption: paired trips (none, field baseline, Charter, free flow)."""
    from charter.sim.sumo.evp import run_evp

    net_file = _net(net)
    with tempfile.TemporaryDirectory() as work, Progress(console=console) as bar:
        task = bar.add_task("emergency trips", total=1.0)
        figures = run_evp(
            net_file,
            Path(work),
            period_s=period,
            trips=trips,
            seed=seed,
            routes=routes,
            window_s=window,
            warmup_s=warmup,
            progress=lambda f, m: bar.update(task, completed=f, description=m),
        )
    detail = figures.pop("trips_detail")
    extra = {k: figures.pop(k) for k in [k for k in figures if k.startswith("_")]}
    if report is not None:
        from charter.sim.sumo.evp_report import write_report

        write_report(report, figures, extra, detail, net_file.name)
        console.print(f"report: {report}")
    console.print(extra)
    _show(f"emergency-vehicle preemption on {net_file.name}", figures, as_json)


@sim_app.command("crossing")
def sim_crossing(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON line last")] = False,
    net: NetFile = None,
    seed: Annotated[int, typer.Option(help="Seed of traffic, pedestrians and simulation")] = 1,
    end: Annotated[float, typer.Option(help="Simulated seconds of demand")] = 3600.0,
    crossing: Annotated[
        str | None, typer.Option(help="The crosswalk (SUMO edge id) [default: chosen]")
    ] = None,
    report: Annotated[Path | None, typer.Option(help="Write an HTML report here")] = None,
    slow_share: Annotated[float, typer.Option(help="Share of pedestrians at 0.9 m/s")] = 0.4,
    consent_share: Annotated[float, typer.Option(help="Share of slow ones who opted in")] = 0.6,
    ped_period: Annotated[float, typer.Option(help="A pedestrian every S s on average")] = 6.0,
    turn_period: Annotated[
        float, typer.Option(help="A vehicle every S s on each right turn across the walk")
    ] = 10.0,
    connected_share: Annotated[
        float, typer.Option(help="Share of vehicles that hear and heed the alert")
    ] = 1.0,
) -> None:
    """Accessible crossing: slow pedestrians caught, conflicts with/without the alert, delay."""
    from charter.sim.sumo.crossing import MODES, run_crossing
    from charter.sim.sumo.crossing_report import report_html

    net_file = _net(net)
    with tempfile.TemporaryDirectory() as work, Progress(console=console) as bar:
        tasks = {m: bar.add_task(m, total=1.0) for m in MODES}
        try:
            figures, results = run_crossing(
                net_file, Path(work), seed=seed, end_s=end, crossing=crossing,
                slow_share=slow_share, consent_share=consent_share, ped_period_s=ped_period,
                turn_period_s=turn_period, connected_share=connected_share,
                progress=lambda m, f: bar.update(tasks[m], completed=f),
            )  # fmt: skip
        except CharterError as e:
            console.print(f"[red]{e.reason.value}[/red] {e.detail}")
            raise typer.Exit(1) from None
    if report is not None:
        report.write_text(report_html(figures, results), encoding="utf-8")
    _show(f"accessible crossing on {net_file.name}", figures, as_json)
