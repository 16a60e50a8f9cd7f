"""The services `charter serve --services` hosts in the server process.

`charter serve --services` starts the platform's service host beside the API:
it subscribes to the admitted readings on the bus, ticks (heartbeats to every
actuator, timers, the two-person `disable_service` and project checks) and
writes each service's state to the store, where `charter services list` reads
it. Which services it hosts is a deployment's choice: each entry of
`FACTORIES` builds one service for the platform from what the store holds
for it, or returns None when the deployment has nothing for it. Append one
line per service.

A factory builds its service only when everything it needs is on the
register: the service's algorithm-register entry (without one the host
refuses it anyway), its project, its configuration as published, and the
actuators it commands, registered as devices. The host then runs it only
while its project is live and it is not disabled (`services/host.py`).

- hazard-watch (`hazard_watch`): the warning plan its project published
  (`publish_plan`: zones, thresholds, each zone's actuator), the zones of the
  project's registered gauges, the zone actuators that are registered devices;
  its alerts reach the residents subscribed to a zone (`AlertSubscriptions`,
  read from the store at each alert) by webhook and on the zone's MQTT topic
  (`<alert_topic_root>/<zone>` on mqtt_url's broker), go on the ledger once sent
  (`AlertChannel`) and become the zone's public NGSI-LD Alert entity.
- emergency preemption, adaptive signals, the accessible crossing and the
  snow-melt: their road networks, junction programs, crossings and heated
  segments are not yet kept in the store (today they come from a SUMO network
  or a scenario, `charter sim …`): their factories return None until a
  deployment's configuration is, and `charter serve` says so.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from charter.bootstrap import Platform
from charter.domain.errors import CharterError
from charter.services.actuator import InProcessChannel
from charter.services.base import Service

if TYPE_CHECKING:
    from charter.services.hazard_delivery import ZoneTopics

log = logging.getLogger(__name__)
Factory = Callable[[Platform], Service | None]
HAZARD = "hazard-watch"

#: What each served platform's channel must close when the host stops.
_closers: list[Callable[[], None]] = []


def hazard_watch(platform: Platform) -> Service | None:
    """The flood and seismic warning, from the plan its project published."""
    from charter.ngsild.alerts import AlertPublisher
    from charter.services.hazard import HazardPlan, HazardWatch, zones_of_devices
    from charter.services.hazard_delivery import AlertChannel, Webhooks
    from charter.services.hazard_subscriptions import AlertSubscriptions
    from charter.services.sensors import flag_reporter, released_in

    store = platform.store
    entry = store.get_algorithm(HAZARD)
    if entry is None:
        return None
    docs = dict(store.list_hazard_plans())
    if entry.project_id not in docs:
        return None
    plan = HazardPlan.model_validate_json(docs[entry.project_id])
    # Only the zones whose actuator is a registered device of the project.
    zones = [
        z
        for z in plan.zones
        if (d := store.get_device(z.actuator)) is not None and d.project_id == plan.project_id
    ]
    if not zones:
        return None
    plan = plan.model_copy(update={"zones": zones})
    host = platform.services
    if type(host.channel) is InProcessChannel:
        # Alerts also reach the zone's subscribers and the ledger: the same channel,
        # with its actuators, made an alert channel.
        settings = platform.settings
        webhooks = Webhooks.from_settings(settings)
        topics = _zone_topics(platform)
        subs = AlertSubscriptions(store, platform.ledger, settings)
        channel = AlertChannel(subs, topics, webhooks)
        channel.ledger = platform.ledger
        channel.published = AlertPublisher(platform.ngsild, store).publish
        channel.actuators.update(host.channel.actuators)
        channel.up = host.channel.up
        host.channel = channel
        _closers.append(webhooks.close)
        if topics is not None:
            _closers.append(topics.close)
    return HazardWatch(
        plan,
        zones_of_devices(store, plan),
        on_flag=flag_reporter(platform.ledger),
        released=released_in(store),
    )


def _zone_topics(platform: Platform) -> ZoneTopics | None:
    """The zones' MQTT topics on the platform's broker; without the broker, webhooks only."""
    from charter.services.hazard_delivery import ZoneTopics

    settings = platform.settings
    try:
        return ZoneTopics(settings, settings.alert_topic_root, f"charter-alerts-{os.getpid()}")
    except OSError as down:
        # The sirens, the webhooks and the ledger do not need the broker; say what is missing.
        log.error(
            "alerts' MQTT topics unavailable (%s): mqtt subscribers get nothing",
            type(down).__name__,
        )
        return None


FACTORIES: list[Factory] = [hazard_watch]


def start(platform: Platform, stop: threading.Event) -> threading.Thread:
    """Host every service the factories build and tick the host until `stop` is set."""
    host = platform.services
    for factory in FACTORIES:
        service = factory(platform)
        if service is None:
            continue
        try:
            host.add(service)
        except CharterError as refused:  # e.g. its entry does not list what it consumes
            log.warning("service %s not hosted: %s", service.name, refused.reason.value)
    host.start()
    thread = threading.Thread(target=_run, args=(platform, stop), daemon=True, name="services")
    thread.start()
    return thread


def _run(platform: Platform, stop: threading.Event) -> None:
    try:
        platform.services.run(stop)
    finally:
        while _closers:
            _closers.pop()()
