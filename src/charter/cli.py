"""The `charter` command. It calls the same service layer as the HTTP API."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from charter.auth import Role, revoke_token
from charter.bench.cli import bench_app
from charter.bootstrap import Platform, build
from charter.cli_errors import CharterGroup
from charter.cli_options import BusUrl, DataDir, StoreUrl
from charter.domain.errors import CharterError
from charter.domain.model import Actor
from charter.portal.screenshots import portal_app
from charter.registry.service import key_fingerprint
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
ledger_app = typer.Typer(help="The public, verifiable ledger.", no_args_is_help=True)
token_app = typer.Typer(help="Bearer tokens for people and services.", no_args_is_help=True)
quarantine_app = typer.Typer(help="Rejected readings kept for an operator.", no_args_is_help=True)
app.add_typer(ledger_app, name="ledger")
app.add_typer(bench_app, name="bench")
app.add_typer(token_app, name="token")
app.add_typer(quarantine_app, name="quarantine")
report_app = typer.Typer(help="Reports computed from the platform's records.", no_args_is_help=True)
app.add_typer(report_app, name="report")
policy_app = typer.Typer(help="The city's vendor trust policy.", no_args_is_help=True)
app.add_typer(policy_app, name="policy")
device_app = typer.Typer(help="Devices on the register.", no_args_is_help=True)
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
CLI_ACTOR = Actor(name="cli", role="operator")
MAX_ROW_ID = 2**63 - 1  # row ids fit a signed 64-bit integer in every store


@contextmanager
def _refusals() -> Iterator[None]:
    """A refusal of the register is a message and exit status 1, not a traceback."""
    try:
        yield
    except CharterError as e:
        console.print(f"[red]{e.reason.value}[/red] {e.detail}")
        raise typer.Exit(1) from None


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
    with _refusals():
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


@ledger_app.command("verify")
def ledger_verify(
    data_dir: DataDir = None,
    key: Annotated[
        str | None,
        typer.Option(
            "--key",
            help="Trust this verifier key (name+id+key), e.g. one fetched from /ledger/key "
            "earlier [default: the first key kept in the data directory]",
        ),
    ] = None,
    trusted_checkpoint: Annotated[
        list[Path] | None,
        typer.Option(
            "--trusted-checkpoint",
            help="A checkpoint saved earlier (a signed note, e.g. from /ledger/checkpoint or a "
            "witness's state file): the entries it covers must be unchanged (repeatable)",
        ),
    ] = None,
    witness: Annotated[
        list[str] | None,
        typer.Option(
            "--witness",
            help="Check cosignatures by this witness key (cosignature/v1 vkey; repeatable) "
            "[default: CHARTER_LEDGER_WITNESSES]",
        ),
    ] = None,
) -> None:
    """Recompute the ledger from its entries and check every stored checkpoint.

    Checkpoints are checked against the chain of signing keys the ledger's
    `ledger.key_rotated` entries record, each key only for its own period, and
    must come at the declared spacing. It then says what it proved against an
    outside view (a trusted checkpoint, a witness's cosignature) and, plainly,
    what it cannot prove.
    """
    from charter.bootstrap import ledger_key_name, ledger_key_path, open_store
    from charter.keys import load, load_public
    from charter.ledger.checkpoint import CheckpointError, key_id, parse_vkey
    from charter.ledger.cosignature import parse_witness_vkey
    from charter.ledger.rotation import retired_path
    from charter.ledger.verify import Problem, Trusted, verify
    from charter.store.sqlite import SqliteStore

    # Not through build(): the verifier must not trust the stored tree it checks.
    settings = Settings.load(data_dir=data_dir)
    if settings.database_url is None and not settings.database_path.exists():
        console.print(f"[red]FAIL[/red] no ledger at {settings.database_path}")
        raise typer.Exit(1)
    name, path = ledger_key_name(settings), ledger_key_path(settings)
    current = load(path, name).public_key
    try:
        witnesses = [parse_witness_vkey(v) for v in (witness or settings.ledger_witnesses)]
        if key is not None:
            name, anchor = parse_vkey(key)
        elif retired_path(path, 0).exists():
            anchor = load_public(retired_path(path, 0))  # the first key, kept when retired
        else:
            anchor = current
        trusted = [Trusted(f.read_text(), str(f)) for f in trusted_checkpoint or []]
    except (CheckpointError, OSError, UnicodeDecodeError) as e:
        console.print(f"[red]FAIL[/red] {e}")
        raise typer.Exit(2) from None
    store = (
        open_store(settings)
        if settings.database_url
        else SqliteStore(settings.database_path, synchronous=settings.sqlite_synchronous)
    )
    report = verify(store, name, anchor, trusted=trusted, witnesses=witnesses)
    store.close()
    problems = list(report.problems)
    # The files in the data directory must agree with the chain on the ledger.
    if report.keys and report.keys[-1].key_id != key_id(name, current).hex():
        problems.append(
            Problem(
                str(path),
                f"holds key {key_id(name, current).hex()}, but the ledger's current key is "
                f"{report.keys[-1].key_id}",
            )
        )
    for period in report.keys[:-1]:
        kept = retired_path(path, period.generation)
        if kept.exists() and key_id(name, load_public(kept)).hex() != period.key_id:
            problems.append(
                Problem(str(kept), f"is not the ledger's key of generation {period.generation}")
            )
    if not problems:
        console.print(
            f"ledger OK: {report.size} entries, {report.checkpoints} checkpoints, "
            f"{len(report.keys)} signing key(s), root {report.root.hex()}"
        )
    for problem in problems:
        console.print(f"[red]FAIL[/red] {problem}", soft_wrap=True)
    for line in report.proven:
        console.print(f"proven: {line}", soft_wrap=True)
    for line in report.unproven:
        console.print(f"[yellow]NOT PROVEN[/yellow] {line}", soft_wrap=True)
    if problems:
        raise typer.Exit(1)


@ledger_app.command("witness")
def ledger_witness(
    url: Annotated[str, typer.Option(help="The log's API, e.g. https://charter.example.city")],
    log_key: Annotated[str, typer.Option(help="The log's verifier key (from /ledger/key)")],
    key: Annotated[Path, typer.Option(help="This witness's private key (made if missing)")],
    state: Annotated[
        Path, typer.Option(help="This witness's state: the checkpoint it cosigned last")
    ],
    name: Annotated[str, typer.Option(help="This witness's name")] = "witness.example.org",
) -> None:
    """Act as a witness: check the log's newest checkpoint is consistent with the last one
    this witness cosigned, cosign it (C2SP cosignature/v1) and hand the cosignature in.

    The state file is a cosigned checkpoint: `charter ledger verify --trusted-checkpoint`
    takes it. The log must list this witness's key in CHARTER_LEDGER_WITNESSES.
    """
    import time

    import httpx

    from charter.keys import load_or_create
    from charter.ledger.checkpoint import CheckpointError, parse_vkey
    from charter.ledger.cosignature import witness_vkey
    from charter.ledger.witness import WitnessClient, WitnessRefused

    try:
        log = parse_vkey(log_key)
    except CheckpointError as e:
        console.print(f"[red]FAIL[/red] --log-key: {e}")
        raise typer.Exit(2) from None
    me = load_or_create(key, name)
    console.print(f"witness key: {witness_vkey(name, me.public_key)}", soft_wrap=True)
    with httpx.Client(base_url=url, timeout=30) as client:
        try:
            note = WitnessClient(client, me, log, state).observe(int(time.time()))
        except (WitnessRefused, httpx.HTTPError) as e:
            console.print(f"[red]REFUSED[/red] {e}", soft_wrap=True)
            raise typer.Exit(1) from None
    print(note, end="")


@ledger_app.command("rotate-key")
def ledger_rotate_key(
    why: Annotated[str, typer.Option(help="Why the key is rotated")],
    proposer: Annotated[str, typer.Option("--as", help="Who proposes (an operator)")] = "cli",
    data_dir: DataDir = None,
) -> None:
    """Propose rotating the ledger's signing key; a second person approves it by the API.

    Rotation is a two-person action (`rotate_ledger_key`): this only proposes
    it. A different person approves with `POST /approvals/{id}/approve`, and the
    server carries it out.
    """
    from charter.security.approvals import ActionKind

    platform = _platform(data_dir)
    action = platform.security.approvals.propose(
        ActionKind.ROTATE_LEDGER_KEY, {}, Actor(name=proposer, role=Role.OPERATOR.value), why
    )
    console.print(
        f"proposed {action.kind} as {action.id}; a second person must approve it: "
        f"POST /approvals/{action.id}/approve (until {action.expires_at})",
        soft_wrap=True,
    )
    print(json.dumps(action.to_json()))
    platform.close()


@ledger_app.command("checkpoint")
def ledger_checkpoint(data_dir: DataDir = None) -> None:
    """Sign a checkpoint of the ledger as it is now and print it."""
    platform = _platform(data_dir)
    print(platform.ledger.checkpoint().note, end="")
    platform.close()


@token_app.command("revoke")
def token_revoke(data_dir: DataDir = None) -> None:
    """Revoke a token at once, in every process: give it on standard input.

    Not as an argument, so that it stays out of the shell's history and the
    process list.
    """
    token = sys.stdin.readline().strip()
    platform = _platform(data_dir)
    found = revoke_token(platform.store, token)
    platform.close()
    if not found:
        console.print(
            "[red]unknown token[/red] (only tokens of the embedded issuer can be revoked)"
        )
        raise typer.Exit(1)
    console.print("revoked")


@token_app.command("create")
def token_create(
    role: Annotated[Role, typer.Option(help="Role the token acts in")],
    name: Annotated[str, typer.Option(help="Who or what holds it")],
    purpose: Annotated[
        list[str] | None, typer.Option(help="Bind the token to these purposes (repeatable)")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Create a bearer token. It is printed once; only its digest is kept."""
    platform = _platform(data_dir)
    print(platform.security.issuer.issue(name, role, purposes=purpose or ()))
    platform.close()


@quarantine_app.command("list")
def quarantine_list(
    data_dir: DataDir = None,
    limit: Annotated[int, typer.Option(help="Most items to list", min=1, max=1000)] = 50,
) -> None:
    """List held quarantine items."""
    platform = _platform(data_dir)
    table = Table("id", "device", "kind", "stage", "reason", "detail")
    for q in platform.quarantine.list(limit=limit):
        table.add_row(str(q.id), q.device_id or "-", q.kind, q.stage, q.reason, q.detail)
    console.print(table)
    platform.close()


@quarantine_app.command("replay")
def quarantine_replay(
    item: Annotated[int, typer.Argument(help="The item's id", min=1, max=MAX_ROW_ID)],
    why: Annotated[str, typer.Option(help="Why it is replayed")],
    override: Annotated[
        str | None,
        typer.Option(help="The one rule not applied again: freshness (recorded on the ledger)"),
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Run a quarantined item through the gate again (recorded on the ledger)."""
    platform = _platform(data_dir)
    print(json.dumps(platform.quarantine.replay(item, CLI_ACTOR, why, override).to_json()))
    platform.close()


@device_app.command("reenrol")
def device_reenrol(
    device: str,
    public_key: Annotated[str, typer.Option(help="The new Ed25519 public key, base64")],
    why: Annotated[str, typer.Option(help="Why the device starts over")],
    data_dir: DataDir = None,
) -> None:
    """Start a device over with a new key; its sequence resets (recorded on the ledger)."""
    platform = _platform(data_dir)
    try:
        d = platform.registry.reenrol_device(device, public_key, CLI_ACTOR, why)
        print(json.dumps({"device": d.id, "key": key_fingerprint(d.public_key), "seq": -1}))
    except CharterError as e:
        console.print(f"[red]{e.reason.value}[/red] {e.detail}")
        raise typer.Exit(1) from None
    finally:
        platform.close()


@device_app.command("token")
def device_token(
    device: str,
    days: Annotated[int, typer.Option(help="Days the credential is valid", min=1, max=3650)] = 30,
    data_dir: DataDir = None,
) -> None:
    """A registered device's credential for writing its NGSI-LD measurement entity in plain
    JSON (every write still goes through the gate). Printed once; revoke with `token revoke`."""
    platform = _platform(data_dir)
    try:
        if platform.store.get_device(device) is None:
            console.print("[red]NOT_REGISTERED[/red] no such device on the register")
            raise typer.Exit(1)
        print(platform.security.issuer.issue_device(device, ttl_s=days * 86_400))
    finally:
        platform.close()


@report_app.command("transparency")
def report_transparency(
    out: Annotated[Path, typer.Option(help="Where to write the HTML report")] = Path("report.html"),
    project: Annotated[str | None, typer.Option(help="One project's id; default city-wide")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON last")] = False,
    data_dir: DataDir = None,
) -> None:
    """Write the transparency report (HTML with plots), city-wide or for one project."""
    from charter.report.page import render
    from charter.report.transparency import compute, rights_of

    platform = _platform(data_dir)
    with _refusals():
        report = compute(platform.store, platform.ledger, project, rights_of(platform))
    out.write_text(render(report), encoding="utf-8")
    console.print(
        f"{report.scope_name}: {report.admitted} admitted, {report.rejected_total} rejected, "
        f"{len(report.consultations)} consultations, {len(report.incidents)} incidents; "
        f"written to {out}"
    )
    if as_json:
        print(json.dumps(report.to_json()))


@policy_app.command("check")
def policy_check(
    data_dir: DataDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the verdicts as JSON")] = False,
) -> None:
    """Explain, for each vendor and device, why it passes or fails the trust policy."""
    from charter.policy.report import render

    platform = _platform(data_dir)
    verdicts = platform.security.trust.check()
    render(verdicts, console)
    if as_json:
        print(json.dumps([v.to_json() for v in verdicts]))
    platform.close()


@policy_app.command("apply")
def policy_apply(
    why: Annotated[str, typer.Option(help="Why the policy changes")],
    data_dir: DataDir = None,
) -> None:
    """Adopt the configured policy file and re-judge every vendor and device (on the ledger).

    Run it after editing the file CHARTER_TRUST_POLICY_FILE names. The adopted
    rules are kept in the store: a running server and its workers judge by
    them from the next registration, and their gates refuse suspended devices
    from their next batch.
    """
    platform = _platform(data_dir)
    _policy, out = platform.security.trust.apply_configured(CLI_ACTOR, why)
    console.print(
        f"vendors changed: {len(out.vendors_changed)}, devices suspended: "
        f"{len(out.devices_suspended)}"
    )
    platform.close()


if __name__ == "__main__":
    app()
