"""Flood early warning: zone alerts over the real gate, zone subscriptions, sirens alone."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import msgspec
import pytest
from pydantic import ValidationError

from charter.bootstrap import Platform, build
from charter.commands.command import from_wire
from charter.device import DeviceSigner, SimReading
from charter.domain.clock import FixedClock
from charter.domain.errors import CharterError
from charter.domain.reasons import Reason
from charter.services.hazard import (
    HazardPlan,
    HazardWatch,
    Threshold,
    publish_plan,
    zones_of_devices,
)
from charter.services.hazard_delivery import AlertChannel, Webhooks, ZoneSiren, ZoneTopics
from charter.services.hazard_subscriptions import AlertSubscriptions
from charter.services.sensors import flag_reporter, released_in
from charter.settings import Settings
from charter.sim import city as sample
from charter.sim.hazard.inbox import WebhookInbox
from charter.sim.hazard.scenario import (
    approve_flood,
    flood_plan,
    hazard_entry,
    level_reading,
    run_hazard,
)
from charter.transport.mqtt import make_client, wait_until
from tests.conftest import SampleCity
from tests.services import own_mosquitto, unique


class Flood:
    """The sample city with its flood project live, the plan published, the service hosted."""

    def __init__(self, p: Platform, channel: AlertChannel, clock: FixedClock) -> None:
        self.p, self.channel, self.clock = p, channel, clock
        self.city = SampleCity(p)  # its flood gauge stands in the riverside zone
        self.rain = self.city.device("rain", sample.TRUSTED, sample.FLOOD, ["rain.rate"])
        approve_flood(p)
        self.plan = flood_plan()
        publish_plan(p.store, p.ledger, self.plan, sample.SEEDER, "warning plan adopted")
        self.subs = AlertSubscriptions(p.store, p.ledger, p.settings)
        self.webhooks = Webhooks.from_settings(p.settings)
        channel.subscriptions, channel.ledger = self.subs, p.ledger
        channel.webhooks = self.webhooks
        key = p.security.commands.public_key_b64
        self.sirens = {
            z.id: ZoneSiren(z.actuator, key, clock, local_danger=250) for z in self.plan.zones
        }
        for s in self.sirens.values():
            channel.attach(s)
        p.algorithms.register(hazard_entry(), sample.SEEDER, "flood warning")
        self.service = HazardWatch(
            self.plan,
            zones_of_devices(p.store, self.plan),
            on_flag=flag_reporter(p.ledger),
            released=released_in(p.store),
        )
        p.services.add(self.service)
        p.services.start()

    def read(self, *levels: float, every: timedelta = timedelta(minutes=1)) -> None:
        for cm in levels:
            self.clock.advance(every)
            self.send(self.city.flood, self.clock.now(), cm)

    def send(self, gauge: DeviceSigner, t: datetime, cm: float) -> None:
        body = self.city.envelope(gauge, [level_reading(t, cm)])
        assert self.p.gate.ingest([body])[0].admitted

    def kinds(self) -> list[dict[str, object]]:
        return [msgspec.json.decode(e.data) for e in self.p.store.iter_ledger_entries()]


@pytest.fixture
def inbox() -> Iterator[WebhookInbox]:
    with WebhookInbox() as box:
        yield box


@pytest.fixture
def flood(tmp_path: Path, clock: FixedClock) -> Iterator[Flood]:
    channel = AlertChannel()
    settings = Settings(data_dir=tmp_path / "data", alert_webhook_hosts=[WebhookInbox.HOST])
    p = build(settings, clock=clock, channel=channel)
    try:
        f = Flood(p, channel, clock)
        yield f
        f.webhooks.close()
    finally:
        p.close()


def test_alerts_reach_each_zone_topic_on_the_broker_for_that_zone_only(
    tmp_path: Path, clock: FixedClock
) -> None:
    with own_mosquitto(tmp_path / "mosquitto") as broker:
        settings = Settings(data_dir=tmp_path / "data", mqtt_url=f"mqtt://127.0.0.1:{broker.port}")
        root = unique("charter/test/alerts/")
        topics = ZoneTopics(settings, root, unique("alerts-"))
        channel = AlertChannel(topics=topics)
        p = build(settings, clock=clock, channel=channel)
        resident = make_client(settings, unique("resident-"), persistent=False)
        got: dict[str, list[bytes]] = {"riverside": [], "uplands": []}
        resident.on_message = lambda _c, _u, m: got[m.topic.rsplit("/", 1)[1]].append(m.payload)
        subscribed = threading.Event()
        resident.on_subscribe = lambda *_a: subscribed.set()
        try:
            flood = Flood(p, channel, clock)
            resident.connect("127.0.0.1", broker.port)
            resident.loop_start()
            resident.subscribe([(f"{root}/riverside", 1), (f"{root}/uplands", 1)])
            assert subscribed.wait(10)
            flood.read(200, 210, 40, 41)  # a warning, then all clear
            assert wait_until(lambda: len(got["riverside"]) == 2, 10)
            actions = [from_wire(w).command.action for w in got["riverside"]]
            assert actions == ["alert.raise", "alert.clear"]
            assert got["uplands"] == []  # one publisher, in order: nothing came before the clear
        finally:
            resident.disconnect()
            resident.loop_stop()
            topics.close()
            p.close()


def test_an_alert_reaches_the_siren_and_residents_of_its_zone_only(
    flood: Flood, inbox: WebhookInbox
) -> None:
    flood.subs.subscribe("riverside", inbox.url("riverside"))
    flood.subs.subscribe("uplands", inbox.url("uplands"))
    flood.read(40, 41, 160)  # one reading at warning: not yet (debounce)
    assert flood.sirens["riverside"].message is None
    flood.read(170)
    siren = flood.sirens["riverside"]
    assert siren.sounding and siren.message is not None
    assert siren.message["level"] == "warning"
    assert flood.sirens["uplands"].message is None
    flood.webhooks.flush()
    assert inbox.received("uplands") == []
    (wire,) = inbox.received("riverside")
    alert = from_wire(wire).command  # the same signed bytes the siren verified
    assert alert.action == "alert.raise" and alert.params["zone"] == "riverside"
    assert alert.params["type"] == "WeatherAlert" and alert.params["subCategory"] == "flood"
    assert alert.params["data"]["currentLevel"] == 170 and alert.params["data"]["alertLevel"] == 150
    assert alert.params["severity"] == "high"  # WeatherAlert's words for a warning
    records = [e for e in flood.kinds() if e["kind"] == "hazard.alert"]
    assert [(r["zone"], r["level"]) for r in records] == [("riverside", "warning")]
    flood.read(260, 270)
    assert siren.message["level"] == "danger"
    flood.webhooks.flush()
    assert len(inbox.received("riverside")) == 2 and inbox.received("uplands") == []
    assert flood.webhooks.failed == 0


def test_heavy_rain_warns_and_a_dry_gauge_is_not_stuck(flood: Flood) -> None:
    for mm in [0.0] * 40 + [25.0, 30.0]:  # hours dry, then a downpour
        flood.clock.advance(timedelta(minutes=1))
        body = flood.city.envelope(
            flood.rain, [SimReading("rain.rate", flood.clock.now(), {"rate": mm}, {"rate": "mm/h"})]
        )
        assert flood.p.gate.ingest([body])[0].admitted
    assert flood.service.flags == []
    message = flood.sirens["riverside"].message
    assert message is not None
    assert (message["subCategory"], message["level"]) == ("rainfall", "warning")


def test_a_fast_rise_warns_below_the_warning_level(flood: Flood) -> None:
    flood.read(40, 40.5, 41, 41.4)
    flood.read(60, 85, 110)  # 25 cm a minute, still under 150
    assert flood.service.zone_level("riverside") == "warning"


def test_withdrawal_is_immediate_and_the_ledger_never_names_the_resident(
    flood: Flood, inbox: WebhookInbox
) -> None:
    sub = flood.subs.subscribe("riverside", inbox.url("riverside"))
    flood.subs.withdraw(sub)
    flood.read(200, 210)
    assert flood.sirens["riverside"].sounding
    flood.webhooks.flush()
    assert inbox.received("riverside") == []
    subs = [e for e in flood.kinds() if e["kind"] in ("alert.subscribed", "alert.withdrawn")]
    assert [e["kind"] for e in subs] == ["alert.subscribed", "alert.withdrawn"]
    assert all(e["zone"] == "riverside" and sub not in str(e) for e in subs)
    with pytest.raises(CharterError) as twice:
        flood.subs.withdraw(sub)
    assert twice.value.reason is Reason.ZONE_UNKNOWN


@pytest.mark.parametrize(
    ("zone", "where", "reason"),
    [
        ("atlantis", {}, Reason.ZONE_UNKNOWN),
        ("52.36, 4.9", {}, Reason.LOCATION_NOT_ZONE),
        ("riverside", {"lat": 52.36, "lon": 4.9}, Reason.LOCATION_NOT_ZONE),
    ],
)
def test_a_subscription_names_a_published_zone_never_a_location(
    flood: Flood, zone: str, where: dict[str, float], reason: Reason
) -> None:
    size = flood.p.ledger.size
    with pytest.raises(CharterError) as refused:
        flood.subs.subscribe(zone, "mqtt", **where)
    assert refused.value.reason is reason
    assert refused.value.detail
    assert flood.p.ledger.size == size


def test_a_siren_keeps_its_last_verified_alert_and_its_own_trigger_alone(
    flood: Flood, inbox: WebhookInbox
) -> None:
    flood.subs.subscribe("riverside", inbox.url("riverside"))
    flood.read(200, 210)
    siren, uplands = flood.sirens["riverside"], flood.sirens["uplands"]
    uplands.local_reading(300)  # while the platform is heard, it decides (faults flagged)
    assert not uplands.sounding
    flood.channel.up = False  # the platform is lost
    flood.clock.advance(timedelta(minutes=5))
    assert siren.tick() and uplands.tick()  # alone, on their own
    flood.read(300, 310)  # danger decided, but nothing gets out
    assert siren.message is not None and siren.message["level"] == "warning"
    assert siren.sounding
    flood.webhooks.flush()
    assert len(inbox.received("riverside")) == 1  # and nothing is recorded as sent that was not
    assert [e["level"] for e in flood.kinds() if e["kind"] == "hazard.alert"] == ["warning"]
    uplands.local_reading(100)
    assert not uplands.sounding
    uplands.local_reading(300)  # its own gauge above danger
    assert uplands.sounding
    forged = b'{"command":{"target":"' + uplands.device_id.encode() + b'","action":"alert.clear"}}'
    uplands.receive(forged)
    assert uplands.sounding and uplands.refused


def test_faulty_gauges_are_flagged_to_the_operator_and_raise_nothing(flood: Flood) -> None:
    flood.read(40, 41)
    flood.clock.advance(timedelta(seconds=1))
    flood.send(flood.city.flood, flood.clock.now(), 541)  # 5 m in a second
    flood.read(1800, 1800)  # admitted by the gate, beyond the gauge's physical range
    flood.read(*[600.0] * 31)  # stuck, and above danger
    assert flood.service.zone_level("riverside") == "normal"
    assert flood.sirens["riverside"].message is None
    whys = [f.why for f in flood.service.flags]
    assert whys[:2] == ["jump", "out_of_range"] and "stuck" in whys
    reported = [e for e in flood.kinds() if e["kind"] == "hazard.sensor_flagged"]
    assert {e["why"] for e in reported} == set(whys)
    assert all(e["device"] == flood.city.flood.device_id for e in reported)
    assert flood.service.suspects() == [flood.city.flood.device_id]
    flood.service.release(flood.city.flood.device_id, 0)  # the operator checked it
    assert flood.kinds()[-1]["kind"] == "hazard.sensor_released"
    flood.read(300, 300.5)
    assert flood.service.zone_level("riverside") == "danger"


def test_nothing_is_watched_while_the_project_is_still_in_consultation(
    tmp_path: Path, clock: FixedClock
) -> None:
    p = build(Settings(data_dir=tmp_path / "data"), clock=clock)
    try:
        city = SampleCity(p)  # the flood project awaits the council
        plan = flood_plan()
        p.algorithms.register(hazard_entry(), sample.SEEDER, "flood warning")
        service = HazardWatch(plan, zones_of_devices(p.store, plan))
        p.services.add(service)
        p.services.start()
        assert p.services.state_of("hazard-watch") == "waiting"
        for cm in (300, 310, 320):
            clock.advance(timedelta(minutes=1))
            p.gate.ingest([city.envelope(city.flood, [level_reading(clock.now(), cm)])])
        assert service.raised == []
        approve_flood(p)
        for cm in (330, 340):
            clock.advance(timedelta(minutes=1))
            p.gate.ingest([city.envelope(city.flood, [level_reading(clock.now(), cm)])])
        assert p.services.state_of("hazard-watch") == "running"
        assert [(z, lvl) for z, lvl, _ in service.raised] == [("riverside", "danger")]
    finally:
        p.close()


def test_the_plan_is_on_the_ledger_and_validated() -> None:
    with pytest.raises(ValidationError):
        Threshold(
            category="water.level", field="level", unit="cm", warning=300, danger=250,
            minimum=0, maximum=1000, max_step_per_s=5,
        )  # fmt: skip
    doc = flood_plan().model_dump()
    doc["zones"][1]["id"] = doc["zones"][0]["id"]
    with pytest.raises(ValidationError):
        HazardPlan.model_validate(doc)


def test_the_published_plan_is_the_whole_document(flood: Flood) -> None:
    (entry,) = [e for e in flood.kinds() if e["kind"] == "hazard.plan.published"]
    assert HazardPlan.model_validate(entry["plan"]) == flood.plan


def test_the_replayed_records_raise_no_false_and_miss_no_alert() -> None:
    figures = run_hazard()
    assert figures["false_alerts"] == 0
    assert figures["missed_alerts"] == 0
    assert figures["alerts_delivered"] >= 2


def test_an_outage_in_the_middle_of_the_event_replay_leaves_each_siren_its_last_alert() -> None:
    from charter.sim.hazard.scenario import event, quiet, replay

    # The platform is lost from 13 h 30 (the riverside zone at warning, the river still
    # rising) for an hour, in which the river passes the danger level.
    run = replay({0: list(event(hours=16)), 1: list(quiet(16, seed=9))}, outage=(810, 60))
    end, after = run["sirens"]["end"], run["sirens"]["after"]
    assert ("riverside", "danger") in [(z, lvl) for z, lvl, _ in run["raised"]]
    river, uplands = end["riverside"], end["uplands"]
    assert river["mode"] == "safe" and uplands["mode"] == "safe"  # alone, on their own
    assert river["message_level"] == "warning"  # the last verified alert, not the danger
    assert river["sounding"]
    assert uplands["message_level"] is None and not uplands["sounding"]  # quiet: nothing
    # Back: the zone's current alert is restated to its siren, which joins again.
    assert after["riverside"]["mode"] == "remote"
    assert after["riverside"]["message_level"] == "danger"
    assert run["delivered"]["uplands"] == 0


def test_alone_a_siren_sounds_on_its_own_gauge(flood: Flood) -> None:
    uplands = flood.sirens["uplands"]
    flood.read(40, 41)  # the platform is heard: heartbeats and restated alerts
    flood.p.services.tick()
    assert uplands.state == "remote"
    uplands.local_reading(300)
    assert not uplands.sounding  # the platform decides while it is heard
    flood.channel.up = False
    flood.clock.advance(timedelta(minutes=5))
    assert uplands.tick()
    uplands.local_reading(300)
    assert uplands.sounding and uplands.local_trips == 1
