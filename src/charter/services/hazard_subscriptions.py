"""Residents' subscriptions to a zone's hazard alerts, kept in the store.

A subscription is a coarse zone and a channel (the zone's MQTT topic, or a
webhook on a host the operator allowed), never a location or an identity; a
withdrawal is immediate in every process, and the ledger records the zone and a
digest, never who. Anonymous subscriptions are counted per keyed hash of the
client address at the door (`door_counts`).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Sequence
from urllib.parse import urlsplit

from charter.domain.errors import CharterError
from charter.domain.reasons import Reason
from charter.ledger.log import Ledger
from charter.services.hazard import HazardPlan, Zone
from charter.settings import Settings
from charter.store.alerts import AlertSubscriptionRow
from charter.store.base import Store

_COORDS = re.compile(r"-?\d+(\.\d+)?\s*[,; ]\s*-?\d+(\.\d+)?")
MQTT = "mqtt"  # a subscription's channel: the zone's MQTT topic


def check_channel(channel: str, allowed_hosts: Sequence[str]) -> str:
    """A channel is "mqtt" (the zone's topic) or an http(s) webhook on a host the operator
    allowed (`alert_webhook_hosts`); the URL is never echoed in an error."""
    if channel == MQTT:
        return channel
    try:
        url = urlsplit(channel)
        host = (url.hostname or "").lower()
    except ValueError:
        host, url = "", urlsplit("")
    if url.scheme not in ("http", "https") or not host or url.username or url.password:
        raise CharterError(
            Reason.WEBHOOK_HOST_NOT_ALLOWED,
            'the channel is "mqtt" or an http(s) webhook URL without credentials',
        )
    if host not in {h.lower() for h in allowed_hosts}:
        raise CharterError(
            Reason.WEBHOOK_HOST_NOT_ALLOWED, "the webhook's host is not one the operator allowed"
        )
    return channel


class AlertSubscriptions:
    """Residents' opt-ins to a zone's alerts, in the store (so every process sees the
    same ones, and a withdrawal is immediate everywhere). A subscription is a zone, a
    channel and the SHA-256 of a random id the resident keeps: no identity, no location.
    The ledger records the zone and a digest of the id, never who subscribed."""

    def __init__(self, store: Store, ledger: Ledger, settings: Settings) -> None:
        self.store, self.ledger, self.settings = store, ledger, settings

    def plans(self) -> list[HazardPlan]:
        """Every published warning plan (zones and thresholds: public)."""
        return [HazardPlan.model_validate_json(doc) for _, doc in self.store.list_hazard_plans()]

    def find_zone(self, zone: str, project: str | None = None) -> tuple[HazardPlan, Zone]:
        found = [
            (plan, z)
            for plan in self.plans()
            if project is None or plan.project_id == project
            for z in plan.zones
            if z.id == zone
        ]
        if not found:
            raise CharterError(Reason.ZONE_UNKNOWN, "no zone by that id in a published plan")
        if len(found) > 1:
            raise CharterError(
                Reason.ZONE_UNKNOWN, "two plans have a zone by that id: name the project"
            )
        return found[0]

    def subscribe(
        self,
        zone: str,
        channel: str,
        *,
        project: str | None = None,
        lat: float | None = None,
        lon: float | None = None,
        geometry: object | None = None,
        source: str | None = None,
    ) -> str:
        """Opt in to one zone's alerts; returns the subscription id (the resident's to keep).

        `source` is a keyed hash of the client's address (an anonymous caller's only
        handle): at most `alert_subscriptions_per_hour` subscriptions from one source in
        an hour, counted in the store so every process counts the same. The CLI, an
        operator's tool, passes none.
        """
        if (
            lat is not None
            or lon is not None
            or geometry is not None
            or _COORDS.fullmatch(zone.strip())
        ):
            raise CharterError(
                Reason.LOCATION_NOT_ZONE,
                "name one of the published zones; a location is never taken",
            )
        plan, z = self.find_zone(zone, project)
        check_channel(channel, self.settings.alert_webhook_hosts)
        # Hex, not base64url: an id that starts with '-' reads as an option on a command line.
        sub_id = secrets.token_hex(24)
        digest = _sha256(sub_id)
        with self.ledger.write() as w:
            # Counted inside the write: a refusal rolls the count back with everything else.
            limit = self.settings.alert_subscriptions_per_hour
            window = w.now_ms - w.now_ms % HOUR_MS
            if source is not None and w.tx.count_at_door(_DOOR, source, window) > limit:
                raise CharterError(
                    Reason.RATE_LIMITED, f"at most {limit} subscriptions an hour from one source"
                )
            w.tx.add_alert_subscription(
                AlertSubscriptionRow(digest, plan.project_id, z.id, channel, w.now_ms)
            )
            w.record(
                "alert.subscribed", None, project=plan.project_id, zone=z.id,
                subscription=digest[:32], channel="mqtt" if channel == MQTT else "webhook",
            )  # fmt: skip
        return sub_id

    def withdraw(self, subscription_id: str) -> None:
        """Immediate: no alert, from any process, reaches the subscription once this returns."""
        digest = _sha256(subscription_id)
        with self.ledger.write() as w:
            row = w.tx.delete_alert_subscription(digest)
            if row is None:
                raise CharterError(Reason.ZONE_UNKNOWN, "no such subscription (withdrawn already?)")
            w.record(
                "alert.withdrawn", None, project=row.project_id, zone=row.zone,
                subscription=digest[:32],
            )  # fmt: skip

    def channels(self, project: str, zone: str) -> list[str]:
        return self.store.alert_channels(project, zone)

    def count(self, zone: str, project: str | None = None) -> int:
        counts = self.store.count_alert_subscriptions()
        return sum(n for (p, z), n in counts.items() if z == zone and project in (None, p))


_DOOR = "alert.subscribe"
HOUR_MS = 3_600_000


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
