"""`charter alerts`: the published alert zones, and a resident's opt-in to one of them."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from charter.bootstrap import build
from charter.cli_options import DataDir, StoreUrl
from charter.services.hazard_subscriptions import AlertSubscriptions
from charter.settings import Settings

alerts_app = typer.Typer(
    help="Hazard alert zones and residents' subscriptions.", no_args_is_help=True
)


@alerts_app.command("zones")
def alerts_zones(data_dir: DataDir = None, store: StoreUrl = None) -> None:
    """Each published warning plan's zones and thresholds, as JSON."""
    platform = build(Settings.load(data_dir=data_dir, database_url=store))
    try:
        plans = AlertSubscriptions(platform.store, platform.ledger, platform.settings).plans()
    finally:
        platform.close()
    typer.echo(json.dumps({"plans": [p.model_dump(mode="json") for p in plans]}, sort_keys=True))


@alerts_app.command("subscribe")
def alerts_subscribe(
    zone: Annotated[str, typer.Argument(help="A published zone's id")],
    channel: Annotated[
        str, typer.Option("--channel", help='"mqtt" (the zone\'s topic) or a webhook URL')
    ] = "mqtt",
    project: Annotated[
        str | None, typer.Option("--project", help="If two plans share the zone id")
    ] = None,
    data_dir: DataDir = None,
    store: StoreUrl = None,
) -> None:
    """Opt in to a zone's alerts; prints the subscription id (keep it to withdraw)."""
    platform = build(Settings.load(data_dir=data_dir, database_url=store))
    try:
        subs = AlertSubscriptions(platform.store, platform.ledger, platform.settings)
        typer.echo(subs.subscribe(zone, channel, project=project))
    finally:
        platform.close()


@alerts_app.command("withdraw")
def alerts_withdraw(
    subscription_id: Annotated[str, typer.Argument(help="The id `subscribe` printed")],
    data_dir: DataDir = None,
    store: StoreUrl = None,
) -> None:
    """Withdraw a subscription: no alert reaches it from now on."""
    platform = build(Settings.load(data_dir=data_dir, database_url=store))
    try:
        AlertSubscriptions(platform.store, platform.ledger, platform.settings).withdraw(
            subscription_id
        )
    finally:
        platform.close()
    typer.echo("withdrawn")
