"""`charter ledger`: verify the public ledger, act as its witness, rotate its key,
sign a checkpoint."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from charter.auth import Role
from charter.bootstrap import Platform, build
from charter.cli_options import DataDir
from charter.domain.model import Actor
from charter.settings import Settings

ledger_app = typer.Typer(help="The public, verifiable ledger.", no_args_is_help=True)
console = Console()


def _platform(data_dir: Path | None) -> Platform:
    return build(Settings.load(data_dir=data_dir))


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
