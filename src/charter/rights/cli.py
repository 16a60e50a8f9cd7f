"""`charter resident|consent|grant|retention`: the rights service from the command line.

The CLI is run by the city's staff on the platform's host. Commands that act for
a resident (consent, export, erase) are the service desk acting on the
resident's request: they run as that resident, so the same rules apply as over
the API. Linking an identifier needs proof that the resident holds it: the
fob's answer to a challenge (`resident challenge`, then `resident link` with
`--public-key --challenge --signature`), or the operator's own verification
(`resident link --verified "how"`), which is on the ledger under the operator.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from charter.bootstrap import Platform, build
from charter.cli_options import DataDir
from charter.domain.model import Actor
from charter.rights.residents import Proof
from charter.settings import Settings

resident_app = typer.Typer(help="Residents and their subject rights.", no_args_is_help=True)
consent_app = typer.Typer(help="Residents' consents and receipts.", no_args_is_help=True)
grant_app = typer.Typer(help="Data consumers' access requests and grants.", no_args_is_help=True)
retention_app = typer.Typer(help="The retention job.", no_args_is_help=True)
console = Console()
STAFF = Actor(name="cli", role="operator")
MAX_DAYS = 36_500  # a hundred years: beyond that a date is a typing error, not a term


def _platform(data_dir: Path | None) -> Platform:
    return build(Settings.load(data_dir=data_dir))


def _as(resident_id: str) -> Actor:
    return Actor(name="service-desk", role="resident", subject=resident_id)


def _run(data_dir: Path | None, work: object) -> None:
    # A CharterError is reported by the `charter` command's one handler (cli_errors).
    platform = _platform(data_dir)
    try:
        work(platform)  # type: ignore[operator]
    finally:
        platform.close()


@resident_app.command("create")
def resident_create(data_dir: DataDir = None) -> None:
    """Enrol a resident; prints their pseudonymous id and their token (shown once)."""

    def work(p: Platform) -> None:
        done = p.rights.residents.enrol(STAFF)
        print(json.dumps({"id": done.record.id, "token": done.token}))

    _run(data_dir, work)


@resident_app.command("challenge")
def resident_challenge(resident: str, data_dir: DataDir = None) -> None:
    """A challenge for the resident's fob to sign (valid five minutes)."""

    def work(p: Platform) -> None:
        challenge, _expires = p.rights.residents.challenge(resident, _as(resident))
        print(challenge)

    _run(data_dir, work)


@resident_app.command("link")
def resident_link(
    resident: str,
    identifier: Annotated[str, typer.Option(help="The fob, app token or tag a device sees")],
    kind: Annotated[str, typer.Option(help="fob, app, vehicle, card or other")] = "fob",
    verified: Annotated[
        str | None, typer.Option(help="How the operator saw the resident hold it (on the ledger)")
    ] = None,
    public_key: Annotated[str | None, typer.Option(help="The fob's public key (base64)")] = None,
    challenge: Annotated[str | None, typer.Option(help="The challenge the fob signed")] = None,
    signature: Annotated[str | None, typer.Option(help="The fob's answer (base64)")] = None,
    data_dir: DataDir = None,
) -> None:
    """Link an identifier to a resident, with proof they hold it (only its keyed digest is kept)."""

    def work(p: Platform) -> None:
        residents = p.rights.residents
        if verified is not None:
            done = residents.link_verified(resident, identifier, kind, STAFF, verified)
        else:
            proof = (
                Proof(public_key, challenge, signature)
                if public_key and challenge and signature
                else None
            )
            done = residents.link(resident, identifier, kind, _as(resident), proof)
        console.print(f"linked a {done.kind} (key version {done.key_version}, proof {done.proof})")

    _run(data_dir, work)


@resident_app.command("export")
def resident_export(
    resident: str,
    out: Annotated[Path | None, typer.Option(help="Write to this file, not stdout")] = None,
    data_dir: DataDir = None,
) -> None:
    """Everything held about a resident, as JSON."""

    def work(p: Platform) -> None:
        text = json.dumps(p.rights.subject.export(resident, _as(resident)), indent=2)
        if out is None:
            print(text)
        else:
            out.write_text(text)
            out.chmod(0o600)

    _run(data_dir, work)


@resident_app.command("erase")
def resident_erase(
    resident: str,
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: this cannot be undone")] = False,
    data_dir: DataDir = None,
) -> None:
    """Erase a resident: delete their data and destroy their key."""
    if not yes:
        console.print("[red]refused[/red]: erasure cannot be undone; pass --yes")
        raise typer.Exit(1)
    _run(data_dir, lambda p: print(json.dumps(p.rights.subject.erase(resident, _as(resident)))))


@consent_app.command("grant")
def consent_grant(
    resident: str,
    category: Annotated[str, typer.Option(help="The data category")],
    purpose: Annotated[str, typer.Option(help="The purpose, e.g. crossing-assistance")],
    project: Annotated[list[str], typer.Option(help="A project in scope (repeatable)")],
    days: Annotated[
        int | None, typer.Option(help="Expires after this many days", min=1, max=MAX_DAYS)
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Record a resident's opt-in; prints the signed receipt."""

    def work(p: Platform) -> None:
        expires = p.clock.now() + timedelta(days=days) if days else None
        done = p.rights.consents.grant(
            resident,
            category=category,
            purpose=purpose,
            projects=project,
            actor=_as(resident),
            expires_at=expires,
            method="service-desk",
        )
        print(json.dumps({"consent": done.consent.id, "receipt": done.receipt.jws}))

    _run(data_dir, work)


@consent_app.command("withdraw")
def consent_withdraw(resident: str, consent: str, data_dir: DataDir = None) -> None:
    """Withdraw a consent: effective for the very next reading."""

    def work(p: Platform) -> None:
        done = p.rights.consents.withdraw(resident, consent, _as(resident))
        print(json.dumps({"consent": done.consent.id, "receipt": done.receipt.jws}))

    _run(data_dir, work)


@consent_app.command("list")
def consent_list(resident: str, data_dir: DataDir = None) -> None:
    """A resident's consents, given and withdrawn, as JSON."""
    from charter.rights.subject import consent_json

    def work(p: Platform) -> None:
        consents = p.rights.consents.of(resident, _as(resident))
        print(json.dumps([consent_json(c) for c in consents], indent=2))

    _run(data_dir, work)


@grant_app.command("request")
def grant_request(
    consumer: Annotated[str, typer.Option(help="The data consumer's id")],
    dataset: Annotated[str, typer.Option(help="The project id")],
    category: Annotated[list[str], typer.Option(help="A category (repeatable)")],
    purpose: Annotated[str, typer.Option(help="The stated purpose")],
    why: Annotated[str, typer.Option(help="Why the consumer needs it")],
    data_dir: DataDir = None,
) -> None:
    """File an access request for a data consumer; prints its id."""
    actor = Actor(name=consumer, role="consumer", subject=consumer)

    def work(p: Platform) -> None:
        req = p.rights.access.request(
            actor, dataset=dataset, categories=category, purpose=purpose, why=why
        )
        print(req.id)

    _run(data_dir, work)


@grant_app.command("approve")
def grant_approve(
    request: str,
    why: Annotated[str, typer.Option(help="Why it is granted")],
    days: Annotated[int, typer.Option(help="Valid for this many days", min=1, max=MAX_DAYS)] = 30,
    max_readings: Annotated[
        int | None, typer.Option(help="Most readings per read", min=1, max=10_000)
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Grant a pending request; prints the grant token."""

    def work(p: Platform) -> None:
        done = p.rights.access.decide(
            request,
            STAFF,
            grant=True,
            why=why,
            expires_at=p.clock.now() + timedelta(days=days),
            constraints={"max_readings": max_readings} if max_readings else {},
        )
        print(done.grant)

    _run(data_dir, work)


@grant_app.command("reject")
def grant_reject(
    request: str, why: Annotated[str, typer.Option(help="Why")], data_dir: DataDir = None
) -> None:
    """Reject a pending request."""
    _run(data_dir, lambda p: p.rights.access.decide(request, STAFF, grant=False, why=why))


@grant_app.command("revoke")
def grant_revoke(
    request: str, why: Annotated[str, typer.Option(help="Why")], data_dir: DataDir = None
) -> None:
    """Revoke a grant at once."""
    _run(data_dir, lambda p: p.rights.access.revoke(request, STAFF, why))


@grant_app.command("list")
def grant_list(data_dir: DataDir = None) -> None:
    """All access requests and their outcome."""

    def work(p: Platform) -> None:
        table = Table("id", "consumer", "dataset", "purpose", "status")
        for r in p.rights.access.requests(STAFF):
            table.add_row(r.id, r.consumer, r.dataset, r.purpose, r.status)
        console.print(table)

    _run(data_dir, work)


@retention_app.command("run")
def retention_run(data_dir: DataDir = None) -> None:
    """Delete data past its declared retention; rotate the pseudonym key when due."""

    def work(p: Platform) -> None:
        run = p.rights.retention.run(STAFF)
        print(json.dumps({"removed": run.removed, "detail": run.detail}))

    _run(data_dir, work)
