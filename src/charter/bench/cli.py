"""`charter bench`: each benchmark prints a table and, with `--json`, one JSON line last,
measured beside the limit it runs against in the same run."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from charter.cli_figures import figures_table, show_figures
from charter.cli_options import StoreUrl

bench_app = typer.Typer(
    help="Benchmarks, each beside the limit it runs against.", no_args_is_help=True
)
console = Console()


def _say(message: str) -> None:
    console.print(f"[dim]{message}[/dim]")


def _show(table: Table, figures: dict[str, Any], as_json: bool) -> None:
    show_figures(console, table, figures, as_json)


@bench_app.command("ingest")
def bench_ingest(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON line last")] = False,
    envelopes: Annotated[int, typer.Option(help="Envelopes to send")] = 2000,
    envelope_size: Annotated[int, typer.Option(help="Readings per envelope")] = 100,
    batch: Annotated[int, typer.Option(help="Envelopes per gate batch (one commit)")] = 10,
) -> None:
    """The full gate into a fresh SQLite store, beside raw executemany into the same schema."""
    from charter.bench.ingest import run_ingest

    result = run_ingest(envelopes, envelope_size, batch, progress=_say)
    table = figures_table(
        f"ingest: {result.readings} readings, {envelope_size} per envelope, "
        f"{batch} envelopes per commit"
    )
    figures = result.to_json()
    table.add_row("full gate, readings/s", f"{figures['readings_per_s']:,}")
    table.add_row("raw executemany, rows/s (the limit)", f"{figures['raw_insert_per_s']:,}")
    table.add_row("ratio", f"{figures['ratio']}")
    for stage, seconds in result.stage_seconds.items():
        share = 100 * seconds / result.gate_seconds
        table.add_row(f"time in {stage}", f"{seconds:.3f} s ({share:.0f}%)")
    _show(table, figures, as_json)


@bench_app.command("flood")
def bench_flood(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON line last")] = False,
    honest: Annotated[int, typer.Option(help="Honest devices")] = 50,
    per_second: Annotated[int, typer.Option(help="Envelopes per honest device per second")] = 5,
    seconds: Annotated[int, typer.Option(help="Simulated seconds")] = 10,
    flood: Annotated[int, typer.Option(help="Envelopes per second from the flooder")] = 2000,
) -> None:
    """One device floods the gate: the others' admitted count beside the same traffic alone."""
    from charter.bench.flood import run_flood

    result = run_flood(honest, per_second, seconds, flood, progress=_say)
    figures = result.to_json()
    table = figures_table(f"flood: {honest} honest devices and one sending {flood}/s")
    for key, value in figures.items():
        table.add_row(key.replace("_", " "), f"{value:,}")
    table.add_row("requirement", "count ratio >= 0.9")
    _show(table, figures, as_json)


@bench_app.command("outage")
def bench_outage(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON line last")] = False,
    kind: Annotated[str, typer.Option(help="What goes away: gateway or postgres")] = "gateway",
    outage: Annotated[float, typer.Option(help="Seconds it is away")] = 40.0,
    rate: Annotated[float, typer.Option(help="Envelopes per second the devices send")] = 100.0,
    devices: Annotated[int, typer.Option(help="Simulated devices")] = 50,
    before: Annotated[float, typer.Option(help="Seconds of load before the outage")] = 5.0,
    after: Annotated[float, typer.Option(help="Seconds of load after it")] = 5.0,
    store: Annotated[
        str, typer.Option("--store", help="PostgreSQL server (a fresh database is made)")
    ] = "postgresql://postgres@127.0.0.1:5432/postgres",
) -> None:
    """The gateway or PostgreSQL away under MQTT load, then back: is every PUBACK kept?"""
    from charter.bench.outage import run_outage

    result = run_outage(
        kind,
        outage,
        rate,
        devices,
        before,
        after,
        store,
        progress=_say,
    )
    figures = result.to_json()
    table = figures_table(f"outage: {kind} away for {outage:g} s under {rate:g} envelopes/s")
    for key, value in figures.items():
        table.add_row(key.replace("_", " "), str(value))
    table.add_row("requirement", "acked but missing = 0, stored twice = 0")
    _show(table, figures, as_json)
    if result.acked_but_missing or result.stored_twice:
        raise typer.Exit(1)


@bench_app.command("strangers")
def bench_strangers(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON line last")] = False,
    honest: Annotated[int, typer.Option(help="Honest envelopes per phase")] = 300,
    strangers: Annotated[int, typer.Option(help="Threads sending strangers' envelopes")] = 4,
    size: Annotated[int, typer.Option(help="Bytes per stranger's envelope")] = 1_350_000,
) -> None:
    """Honest devices' latency alone and beside strangers' huge envelopes."""
    from charter.bench.strangers import run_strangers

    f = run_strangers(honest, strangers, size, progress=_say)
    table = figures_table(
        f"strangers: {strangers} threads of {f['stranger_bytes']:,}-byte envelopes"
    )
    table.add_row("honest p50 alone", f"{f['honest_p50_ms_alone']} ms")
    table.add_row("honest p50 beside the strangers", f"{f['honest_p50_ms_flooded']} ms")
    table.add_row("ratio", f"{f['p50_ratio']}")
    table.add_row("strangers' envelopes refused", f"{f['strangers_refused']:,}")
    _show(table, f, as_json)


@bench_app.command("consent")
def bench_consent(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON line last")] = False,
    residents: Annotated[int, typer.Option(help="Residents holding mixed consents")] = 100_000,
    envelopes: Annotated[int, typer.Option(help="Envelopes in the stream")] = 1000,
    envelope_size: Annotated[int, typer.Option(help="Readings per envelope")] = 100,
) -> None:
    """The gate with the consent stage, beside the same stream with it off (half personal)."""
    from charter.bench.consent import report

    report(residents, envelopes, envelope_size, as_json=as_json, console=console)


@bench_app.command("services")
def bench_services(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON line last")] = False,
    rounds: Annotated[int, typer.Option(help="Batches of counts")] = 200,
    junctions: Annotated[int, typer.Option(help="Signalised junctions")] = 15,
) -> None:
    """Decision latency, admitted batch to signed command at the actuator, in process."""
    from charter.bench.services import run_services

    figures = run_services(rounds, junctions, progress=_say)
    table = figures_table("city services: admitted batch to verified command")
    for key, value in figures.items():
        table.add_row(key.replace("_", " "), f"{value:,}")
    table.add_row("requirement", "signals p99 <= 5 ms")
    _show(table, figures, as_json)


@bench_app.command("portal")
def bench_portal(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON line last")] = False,
    devices: Annotated[int, typer.Option(help="Devices on the register")] = 1000,
    readings: Annotated[int, typer.Option(help="Readings stored through the gate")] = 100_000,
    rounds: Annotated[int, typer.Option(help="Requests per page")] = 60,
) -> None:
    """Server time per portal page (p50, p95) at the demo's scale, beside a no-op route."""
    from charter.bench.portal import report

    report(devices, readings, rounds, as_json=as_json, console=console)


@bench_app.command("scale")
def bench_scale(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON line last")] = False,
    envelopes: Annotated[int, typer.Option(help="Envelopes per full-load run")] = 3000,
    envelope_size: Annotated[int, typer.Option(help="Readings per envelope")] = 100,
    devices: Annotated[int, typer.Option(help="Simulated devices")] = 1000,
    half_load_envelopes: Annotated[
        int | None, typer.Option(help="Envelopes for the latency run [default: half]")
    ] = None,
    batch: Annotated[int, typer.Option(help="Most envelopes per worker batch")] = 256,
    small_batch: Annotated[
        int, typer.Option(help="Most envelopes per worker batch while there is no backlog")
    ] = 16,
    store: Annotated[
        str, typer.Option("--store", help="PostgreSQL server (a fresh database is made)")
    ] = "postgresql://postgres@127.0.0.1:5432/postgres",
) -> None:
    """MQTT publish → gateway → JetStream → workers → PostgreSQL, beside the raw limits."""
    from charter.bench.scale import run_scale

    result = run_scale(
        envelopes,
        envelope_size,
        devices,
        half_load_envelopes,
        batch,
        store,
        small_batch,
        progress=_say,
    )
    f = result.to_json()
    table = figures_table(
        f"scale: {envelopes} envelopes of {envelope_size} readings, {devices} devices"
    )
    table.add_row("end to end, 1 worker, readings/s", f"{f['readings_per_s_1_worker']:,}")
    table.add_row("end to end, 2 workers, readings/s", f"{f['readings_per_s_2_workers']:,}")
    table.add_row("half load, readings/s", f"{f['half_load_readings_per_s']:,}")
    table.add_row("publish → commit p50 at half load", f"{f['p50_ms']} ms")
    table.add_row("publish → commit p99 at half load", f"{f['p99_ms']} ms")
    table.add_row("raw PostgreSQL COPY, rows/s (limit)", f"{f['raw_copy_per_s']:,}")
    table.add_row("raw MQTT QoS 1 publish, readings/s (limit)", f"{f['raw_mqtt_publish_per_s']:,}")
    table.add_row(
        "raw JetStream publish, readings/s (limit)", f"{f['raw_jetstream_publish_per_s']:,}"
    )
    split = f["time_split_s"]
    total = sum(split.values()) or 1.0
    for key, label in (("gate_s", "gate stages"), ("commit_s", "COPY + commit"), ("ack_s", "ack")):
        seconds = split.get(key, 0.0)
        table.add_row(
            f"workers' time in {label}", f"{seconds:.2f} s ({100 * seconds / total:.0f}%)"
        )
    for hop, q in f["latency_split_ms"].items():
        table.add_row(f"  of which {hop}, p50 / p99", f"{q['p50']} / {q['p99']} ms")
    _show(table, f, as_json)


@bench_app.command("ngsi-ld")
def bench_ngsild(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON line last")] = False,
    small: Annotated[int, typer.Option(help="Entities created one by one")] = 10_000,
    large: Annotated[int, typer.Option(help="Entities after the batch upserts")] = 100_000,
    concurrency: Annotated[int, typer.Option(help="Concurrent client connections")] = 16,
    store: StoreUrl = None,
) -> None:
    """NGSI-LD over HTTP on loopback: creations, updates, batch upserts, queries, no-op."""
    from charter.bench.ngsild import run_ngsild

    result = run_ngsild(small, large, concurrency, store, say=_say)
    f = result.to_json()
    table = figures_table(f"NGSI-LD over HTTP, {concurrency} connections, {small:,} → {large:,}")
    for key, value in f.items():
        shown = f"{value:,}" if isinstance(value, int | float) else str(value or "-")
        table.add_row(key.replace("_", " "), shown)
    table.add_row("targets", "update ratio >= 0.5, upsert >= 20,000/s, q p95 <= 50 ms")
    _show(table, f, as_json)
