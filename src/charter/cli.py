"""The `charter` command: its groups put together, and the long-running processes
(serve, worker, gateway, demo). It calls the same service layer as the HTTP API.

The groups live beside what they drive: `charter ledger` in ledger/cli.py, the
operator's token, quarantine, device, report and policy groups in cli_operator.py,
bench/, rights/, services/, sim/ and portal/ their own.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from charter.bench.cli import bench_app
from charter.bootstrap import Platform, build
from charter.cli_errors import CharterGroup, refusals
from charter.cli_operator import device_app, policy_app, quarantine_app, report_app, token_app
from charter.cli_options import BusUrl, DataDir, StoreUrl
from charter.ledger.cli import ledger_app
from charter.portal.screenshots import portal_app
from charter.rights import cli as rights_cli
from charter.services.alerts_cli import alerts_app
from charter.services.cli import services_app
from charter.settings import Settings
from charter.sim.hazard.cli import sim_hazard
from charter.sim.snowmelt.cli import sim_snowmelt
from charter.sim.sumo.cli import sim_app

app = typer.Typer(
    help="Charter: a city data platform that enforces residents' rights.",
    no_args_is_help=True,
    add_completion=False,
    cls=CharterGroup,  # one error handler for every command
    pretty_exceptions_show_locals=False,  # a traceback never shows tokens or identifiers
    # Help texts are Markdown, not rich markup, in which "[default: …]" or "charter[sim]"
    # read as style tags and vanish (tests/test_cli_help.py).
    rich_markup_mode="markdown",
)
app.add_typer(ledger_app, name="ledger")
app.add_typer(bench_app, name="bench")
app.add_typer(token_app, name="token")
app.add_typer(quarantine_app, name="quarantine")
app.add_typer(report_app, name="report")
app.add_typer(policy_app, name="policy")
app.add_typer(device_app, name="device")
app.add_typer(rights_cli.resident_app, name="resident")
app.add_typer(rights_cli.consent_app, name="consent")
app.add_typer(rights_cli.grant_app, name="grant")
app.add_typer(rights_cli.retention_app, name="retention")
app.add_typer(services_app, name="services")
app.add_typer(alerts_app, name="alerts")
app.add_typer(sim_app, name="sim")
app.add_typer(portal_app, name="portal")
sim_app.command("snowmelt")(sim_snowmelt)
sim_app.command("hazard")(sim_hazard)
console = Console()

Host = Annotated[str | None, typer.Option(help="Address to listen on [default: 127.0.0.1]")]
Port = Annotated[int | None, typer.Option(help="Port to listen on [default: 8000]")]


def _platform(
    data_dir: Path | None,
    host: str | None = None,
    port: int | None = None,
    store: str | None = None,
    bus: str | None = None,
) -> Platform:
    return build(
        Settings.load(data_dir=data_dir, host=host, port=port, database_url=store, bus_url=bus)
    )


@app.command()
def serve(
    data_dir: DataDir = None,
    host: Host = None,
    port: Port = None,
    store: StoreUrl = None,
    bus: BusUrl = None,
    services: Annotated[
        bool,
        typer.Option(
            "--services",
            help="Also run the service host in this process (charter.services.hosted)",
        ),
    ] = False,
) -> None:
    """Serve the HTTP API on the configured store and bus (SQLite, in-process by default)."""
    from charter.api import server
    from charter.api.app import create_app
    from charter.runtime import settle_heap

    platform = _platform(data_dir, host=host, port=port, store=store, bus=bus)
    s = platform.settings
    api = create_app(platform)
    stop = threading.Event()
    if services or s.serve_services:
        from charter.services import hosted

        hosted.start(platform, stop)
        names = ", ".join(x.name for x in platform.services.services) or "none configured yet"
        console.print(f"service host running in this process; services: {names}")
    settle_heap()
    console.print(f"Charter API at http://{s.host}:{s.port}  (data in {s.data_dir})")
    try:
        server.run(api, s)
    finally:
        stop.set()


@app.command()
def worker(
    data_dir: DataDir = None,
    store: StoreUrl = None,
    bus: BusUrl = None,
    batch: Annotated[int | None, typer.Option(help="Most envelopes per batch")] = None,
) -> None:
    """Run a gate worker on the NATS JetStream ingest stream (as many as needed)."""
    from charter.transport.worker import serve_worker

    settings = Settings.load(data_dir=data_dir, database_url=store, bus_url=bus, worker_batch=batch)
    if settings.bus_url is None:
        console.print("[red]charter worker needs a bus:[/red] --bus nats://… or CHARTER_BUS_URL")
        raise typer.Exit(2)
    serve_worker(settings, say=console.print)


@app.command()
def gateway(data_dir: DataDir = None, store: StoreUrl = None, bus: BusUrl = None) -> None:
    """Run the MQTT device gateway: devices' envelopes to the gate (or JetStream)."""
    from charter.transport.mqtt import serve_gateway

    settings = Settings.load(data_dir=data_dir, database_url=store, bus_url=bus)
    serve_gateway(settings, say=console.print)


@app.command()
def demo(
    data_dir: DataDir = None,
    host: Host = None,
    port: Port = None,
    duration: Annotated[float | None, typer.Option(help="Stop after this many seconds")] = None,
    devices: Annotated[int, typer.Option(help="Simulated devices")] = 1000,
    period: Annotated[float, typer.Option(help="Seconds between a device's envelopes")] = 10.0,
    as_json: Annotated[bool, typer.Option("--json", help="Also print the summary as JSON")] = False,
    store: StoreUrl = None,
    bus: BusUrl = None,
) -> None:
    """Seed a sample city, serve it, and let its devices send readings good and bad."""
    from charter.sim.demo import run

    platform = _platform(data_dir, host=host, port=port, store=store, bus=bus)
    s = platform.settings
    with refusals(console):
        summary = run(
            platform,
            host=s.host,
            port=s.port,
            duration=duration,
            n_devices=devices,
            period_s=period,
            # Soft wrap: a token must stay on one line to be copied.
            say=lambda message: console.print(message, soft_wrap=True),
        )
    table = Table(title="Charter demo summary")
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("envelopes sent", str(summary.envelopes_sent))
    table.add_row("readings admitted", str(summary.admitted))
    for reason, n in summary.rejected.items():
        table.add_row(f"rejected: {reason}", str(n))
    table.add_row("quarantined (held)", str(summary.quarantined))
    table.add_row("ledger size", str(summary.ledger_size))
    table.add_row("peak memory (MB RSS)", f"{summary.peak_rss_mb:.0f}")
    console.print(table)
    console.print(f"ledger root: {summary.ledger_root}")
    if as_json:
        print(json.dumps({k: v for k, v in summary.__dict__.items() if k != "tokens"}))
    platform.close()


if __name__ == "__main__":
    app()
