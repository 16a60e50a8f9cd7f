"""`charter serve --services`: the served platform runs the services the register has.

The platform is built as `charter serve` builds it; `hosted.start` hosts what
its factories find on the register (here the flood watch: its entry, its
published plan, its registered sirens), and a gauge's reading through the gate
becomes a signed alert at the zone's siren and at the zone's subscriber, until
two people disable the service.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from charter.bootstrap import Platform, build
from charter.device import DeviceSigner
from charter.domain.clock import FixedClock
from charter.domain.model import Actor, Device, Location
from charter.ngsild.alerts import alert_id
from charter.security.approvals import ActionKind
from charter.services import hosted
from charter.services.hazard import publish_plan
from charter.services.hazard_delivery import ZoneSiren
from charter.services.hazard_subscriptions import AlertSubscriptions
from charter.settings import Settings
from charter.sim import city as sample
from charter.sim.hazard import scenario as s
from charter.sim.hazard.inbox import WebhookInbox
from charter.transport.mqtt_client import make_client
from tests.city_services.helpers import OPERATOR
from tests.services import need, port_open, unique

COUNCIL = Actor(name="test-council", role="council")


@pytest.fixture
def inbox() -> Iterator[WebhookInbox]:
    with WebhookInbox() as box:
        yield box


@pytest.fixture
def served(tmp_path: Path, clock: FixedClock) -> Iterator[Platform]:
    need(port_open(1883), "MQTT broker on 1883")
    settings = Settings(
        data_dir=tmp_path / "d",
        alert_webhook_hosts=[WebhookInbox.HOST],
        alert_topic_root=unique("charter/test/alerts/"),
    )
    p = build(settings, clock=clock)
    yield p
    p.close()


def _siren(p: Platform, zone: str) -> None:
    p.registry.register_device(
        Device(id=s.siren(zone), vendor_id=sample.TRUSTED, project_id=sample.FLOOD,
               modality="siren and signs", location=Location(lat=52.40, lon=4.87),
               categories=["water.level"], public_key=DeviceSigner(s.siren(zone)).public_key_b64),
        sample.SEEDER,
    )  # fmt: skip


def test_a_served_platform_alerts_from_an_admitted_reading_until_disabled(
    served: Platform, clock: FixedClock, inbox: WebhookInbox
) -> None:
    p = served
    s.live_flood(p)
    plan = s.flood_plan()
    publish_plan(p.store, p.ledger, plan, sample.SEEDER, "warning plan adopted")
    p.algorithms.register(s.hazard_entry(), sample.SEEDER, "flood warning")
    for z in plan.zones:
        _siren(p, z.id)
    key = p.security.commands.public_key_b64
    sirens = {z.id: ZoneSiren(z.actuator, key, clock, local_danger=250) for z in plan.zones}
    for siren in sirens.values():
        p.services.channel.attach(siren)  # type: ignore[attr-defined]
    riverside = s.gauge(p, "gauge-r", 4.88)  # in the riverside zone
    AlertSubscriptions(p.store, p.ledger, p.settings).subscribe("riverside", inbox.url("r"))
    # A resident's app on the riverside zone's topic (the broker, not Charter, knows it).
    app = make_client(p.settings, unique("resident-"), persistent=False)
    heard: list[bytes] = []
    app.on_message = lambda _c, _u, m: heard.append(m.payload)
    listening = threading.Event()
    app.on_subscribe = lambda *_a: listening.set()
    app.connect("127.0.0.1", 1883)
    app.loop_start()
    app.subscribe(f"{p.settings.alert_topic_root}/riverside", qos=1)
    assert listening.wait(10)

    stop = threading.Event()
    thread = hosted.start(p, stop)
    try:
        assert [x.name for x in p.services.services] == ["hazard-watch"]
        assert p.services.state_of("hazard-watch") == "running"
        seq = 0

        def level(cm: float) -> None:
            nonlocal seq
            seq += 1
            clock.advance(timedelta(seconds=60))
            now = clock.now()
            [out] = p.gate.ingest([riverside.envelope(seq, now, [s.level_reading(now, cm)])])
            assert out.admitted == 1

        for cm in (40.0, 160.0, 170.0):  # warning, held for two readings (the debounce)
            level(cm)
        assert sirens["riverside"].sounding
        assert sirens["riverside"].message is not None
        assert sirens["riverside"].message["level"] == "warning"
        assert not sirens["uplands"].sounding
        p.services.channel.webhooks.flush()  # type: ignore[attr-defined]
        assert len(inbox.received("r")) == 1
        kinds = [e.kind for e in p.store.iter_ledger_entries()]
        assert "hazard.alert" in kinds
        assert _wait(lambda: len(heard) == 1)
        assert b'"alert.raise"' in heard[0]  # the same signed bytes as the siren's
        # ... and the zone's public NGSI-LD Alert entity, for dashboards.
        alert = p.ngsild.entities.get(OPERATOR, "", alert_id(sample.FLOOD, "riverside"))
        assert any(t.endswith("Alert") for t in alert.types)

        # Two people disable it: the next danger-level readings raise nothing.
        action = p.security.approvals.propose(
            ActionKind.DISABLE_SERVICE, {"service": "hazard-watch"}, OPERATOR, "faulty"
        )
        p.security.approvals.approve(action.id, COUNCIL, "agreed")
        for cm in (260.0, 270.0, 280.0):
            level(cm)
        assert p.services.state_of("hazard-watch") == "disabled"
        assert sirens["riverside"].message["level"] == "warning"  # no danger alert
        p.services.channel.webhooks.flush()  # type: ignore[attr-defined]
        assert len(inbox.received("r")) == 1
    finally:
        stop.set()
        thread.join(timeout=10)
        app.loop_stop()
        app.disconnect()


def _wait(ok: Callable[[], bool], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while not ok() and time.monotonic() < deadline:
        time.sleep(0.02)
    return ok()


def test_nothing_is_hosted_without_its_register_entry_and_plan(served: Platform) -> None:
    s.live_flood(served)
    assert hosted.hazard_watch(served) is None  # no entry on the algorithm register
    served.algorithms.register(s.hazard_entry(), sample.SEEDER, "flood warning")
    assert hosted.hazard_watch(served) is None  # no published plan
    publish_plan(served.store, served.ledger, s.flood_plan(), sample.SEEDER, "plan")
    assert hosted.hazard_watch(served) is None  # no siren registered
