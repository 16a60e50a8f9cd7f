"""`charter token|quarantine|device|report|policy`: the operator's commands on
tokens, held readings, devices, the transparency report and the trust policy."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from charter.auth import Role, revoke_token
from charter.bootstrap import Platform, build
from charter.cli_errors import refusals
from charter.cli_options import DataDir
from charter.domain.errors import CharterError
from charter.domain.model import Actor
from charter.registry.service import key_fingerprint
from charter.settings import Settings

token_app = typer.Typer(help="Bearer tokens for people and services.", no_args_is_help=True)
quarantine_app = typer.Typer(help="Rejected readings kept for an operator.", no_args_is_help=True)
report_app = typer.Typer(help="Reports computed from the platform's records.", no_args_is_help=True)
policy_app = typer.Typer(help="The city's vendor trust policy.", no_args_is_help=True)
device_app = typer.Typer(help="Devices on the register.", no_args_is_help=True)
console = Console()
CLI_ACTOR = Actor(name="cli", role="operator")
MAX_ROW_ID = 2**63 - 1  # row ids fit a signed 64-bit integer in every store


def _platform(data_dir: Path | None) -> Platform:
    return build(Settings.load(data_dir=data_dir))


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
    with refusals(console):
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
