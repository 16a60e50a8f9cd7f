"""Mosquitto killed (SIGKILL) mid-stream: what a device may rely on, measured.

Mosquitto PUBACKs a device's message once it is in memory, and saves to disk
at `autosave_interval` (the production configuration in docs/scaling.md sets
none: only on a clean shutdown). A broker crash loses what it acknowledged
since. The platform's own acknowledgement comes after the commit, on
`<root>/<device>/ack`; a device that keeps each envelope until then and sends
it again (`MqttDevice`) loses nothing and nothing is stored twice. The test
runs on a Mosquitto of its own, with the documented production persistence
and with `autosave_interval 1`, and prints how many PUBACKed envelopes the
crash lost before the devices resent them (the PUBACK-only loss window).
"""

from __future__ import annotations

import getpass
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from charter.bootstrap import Platform, build
from charter.device import DeviceSigner
from charter.settings import Settings
from charter.transport.device_link import MqttDevice
from charter.transport.mqtt import DirectSink, MqttGateway, wait_until
from tests.conftest import SampleCity, air_reading
from tests.services import MOSQUITTO, Daemon, free_port, need, unique
from tests.transport.conftest import air_devices

PER_DEVICE = 60
DEVICES = 5


def mosquitto(tmp: Path, autosave: int | None) -> Daemon:
    need(Path(MOSQUITTO).exists(), "mosquitto is not installed")
    port = free_port()
    tmp.mkdir(parents=True, exist_ok=True)
    conf = tmp / "mosquitto.conf"
    # The persistence lines of the production configuration (docs/scaling.md).
    conf.write_text(
        f"user {getpass.getuser()}\nlistener {port} 127.0.0.1\nallow_anonymous true\n"
        f"persistence true\npersistence_location {tmp}/\n"
        "max_inflight_messages 1000\nmax_queued_messages 1000000\n"
        + (f"autosave_interval {autosave}\n" if autosave is not None else "")
    )
    return Daemon([MOSQUITTO, "-c", str(conf)], port, tmp / "mosquitto.log")


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Platform]:
    p = build(Settings(data_dir=tmp_path / "data"))  # the system clock: real brokers
    yield p
    p.close()


@pytest.mark.parametrize("autosave", [None, 1], ids=["production", "autosave-1"])
def test_a_broker_crash_loses_nothing_the_platform_confirmed(
    tmp_path: Path, live: Platform, autosave: int | None
) -> None:
    SampleCity(live)  # the sample city's vendors and projects
    broker = mosquitto(tmp_path / "mosquitto", autosave)
    broker.start()
    settings = Settings(
        data_dir=tmp_path / "data",
        mqtt_url=f"mqtt://127.0.0.1:{broker.port}",
        mqtt_client_id=unique("gw-"),
    )
    signers = air_devices(live, DEVICES)
    gateway = MqttGateway(settings, DirectSink(live))
    gateway.start()
    devices = {s.device_id: MqttDevice(settings, s.device_id) for s in signers}
    half = PER_DEVICE // 2
    try:
        _send(signers, devices, range(1, half + 1))
        assert wait_until(lambda: live.store.count_readings() == DEVICES * half, 30)
        # The gateway goes away (its session stays): the broker queues for it, and
        # PUBACKs every message, then crashes (SIGKILL) before the gateway is back.
        gateway.stop()
        _send(signers, devices, range(half + 1, PER_DEVICE + 1))
        assert wait_until(lambda: all(len(d.pubacked) == PER_DEVICE for d in devices.values()), 30)
        time.sleep(2)  # past one autosave_interval, where there is one
        assert broker.proc is not None
        broker.proc.send_signal(signal.SIGKILL)
        broker.proc.wait()
        broker.proc = None
        broker.start()  # the same port, with whatever it had saved
        gateway = MqttGateway(settings, DirectSink(live))
        gateway.start()
        time.sleep(3)  # what the broker still had is delivered by now
        pubacked = set().union(*(d.pubacked for d in devices.values()))
        lost = len(pubacked - _stored_ids(live, devices))
        print(f"\nautosave={autosave}: {lost} of {DEVICES * half} PUBACKed, queued envelopes lost")
        if autosave is None:
            # Saved only on a clean shutdown: the crash lost the queue, PUBACKs given.
            assert lost > 0
        # The devices send again what the platform has not confirmed: nothing is lost.
        assert wait_until(
            lambda: (
                sum(d.resend(older_than_s=2.0) for d in devices.values()) >= 0
                and all(d.unconfirmed() == 0 for d in devices.values())
            ),
            90,
            step=0.5,
        ), {k: d.unconfirmed() for k, d in devices.items()}
    finally:
        for d in devices.values():
            d.close()
        gateway.stop()
        broker.stop()
    expected = DEVICES * PER_DEVICE
    assert live.store.count_readings() == expected
    with live.store.engine.connect() as conn:  # type: ignore[attr-defined]
        twice = conn.execute(
            text("SELECT device_id, seq FROM readings GROUP BY device_id, seq HAVING count(*) > 1")
        ).all()
    assert twice == []


def _send(signers: list[DeviceSigner], devices: dict[str, MqttDevice], seqs: range) -> None:
    for seq in seqs:
        for s in signers:
            now = datetime.now(UTC)
            devices[s.device_id].send(s.envelope(seq, now, [air_reading(now)]))


def _stored_ids(platform: Platform, devices: dict[str, MqttDevice]) -> set[str]:
    """Hashes of the envelopes whose reading is stored (one reading each)."""
    stored = {(r.device_id, r.seq) for r in platform.store.readings()}
    return {
        h for d in devices.values() for h, seq in d.seqs.items() if (d.device_id, seq) in stored
    }
