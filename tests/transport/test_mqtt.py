"""The MQTT gateway on a real Mosquitto of the test's own (so it can be restarted)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from charter.bootstrap import Platform
from charter.commands.verifier import CommandRefused, CommandVerifier
from charter.keys import load_or_create
from charter.settings import Settings
from charter.transport.mqtt import (
    Delivery,
    DirectSink,
    MqttGateway,
    connect,
    down_topic,
    make_client,
    up_topic,
    wait_until,
)
from tests.conftest import SampleCity, air_reading
from tests.services import Daemon, need, own_mosquitto, unique
from tests.transport.conftest import air_devices

ROOT = "charter/v1/devices"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Daemon]:
    with own_mosquitto(tmp_path / "mosquitto") as d:
        yield d


def settings_for(broker: Daemon, tmp_path: Path, protocol: str = "5") -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        mqtt_url=f"mqtt://127.0.0.1:{broker.port}",
        mqtt_protocol=protocol,
        mqtt_client_id=unique("gw-"),
    )


class Device:
    """A device's MQTT side: a persistent session, QoS 1 publishes."""

    def __init__(self, settings: Settings) -> None:
        self.client = make_client(settings, unique("dev-"))
        self.connected = threading.Event()
        self.client.on_connect = lambda *_a: self.connected.set()
        self.received: list[bytes] = []
        self.client.on_message = lambda _c, _u, m: self.received.append(bytes(m.payload))
        connect(self.client, settings)
        self.client.loop_start()
        assert self.connected.wait(10)

    def send(self, device_id: str, body: bytes) -> None:
        """Returns once the broker acknowledged (PUBACK): from then on it must not be lost."""
        info = self.client.publish(up_topic(ROOT, device_id), body, qos=1)
        info.wait_for_publish(30)
        assert info.is_published()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_the_gateway_stores_what_devices_publish(
    broker: Daemon, tmp_path: Path, platform: Platform, city: SampleCity, protocol: str
) -> None:
    settings = settings_for(broker, tmp_path, protocol)
    gw = MqttGateway(settings, DirectSink(platform))
    gw.start()
    device = Device(settings)
    try:
        for _ in range(10):
            device.send(city.air.device_id, city.envelope(city.air))
        device.send(city.flood.device_id, b"{not json")
        assert wait_until(lambda: gw.acked == 11, 20)
        assert platform.store.count_readings() == 10
        assert platform.store.rejections_by_reason() == {"MALFORMED_JSON": 1}
    finally:
        device.close()
        gw.stop()


class HeldSink(DirectSink):
    """Holds a batch as if the store were slow; `fail` makes it give up (a crash)."""

    def __init__(self, platform: Platform) -> None:
        super().__init__(platform)
        self.entered = threading.Event()
        self.release = threading.Event()

    def handle(self, batch: list[Delivery], done: object) -> None:
        self.entered.set()
        self.release.wait()
        raise RuntimeError("crashed before commit")


def test_nothing_is_acknowledged_before_the_commit_and_a_new_gateway_gets_it_again(
    broker: Daemon, tmp_path: Path, platform: Platform, city: SampleCity
) -> None:
    settings = settings_for(broker, tmp_path)
    held = HeldSink(platform)
    first = MqttGateway(settings, held)
    first.start()
    device = Device(settings)
    bodies = [city.envelope(city.air) for _ in range(5)]
    for b in bodies:
        device.send(city.air.device_id, b)
    assert held.entered.wait(10)
    assert first.acked == 0 and platform.store.count_readings() == 0
    # The first gateway dies before its commit: no PUBACK ever left it.
    first._stop.set()
    first.client.loop_stop()
    first.client.socket().close()  # type: ignore[union-attr]
    held.release.set()
    second = MqttGateway(settings, DirectSink(platform))  # same client id, same session
    second.start()
    try:
        assert wait_until(lambda: platform.store.count_readings() == 5, 20)
        assert wait_until(lambda: second.acked == 5, 10)
        assert sorted(r.seq for r in platform.store.readings()) == [1, 2, 3, 4, 5]
    finally:
        device.close()
        second.stop()


def _gateway_process(tmp: Path, settings: Settings) -> subprocess.Popen[bytes]:
    """`charter gateway` in a process of its own; returns once it is subscribed."""
    env = {
        **os.environ,
        "CHARTER_DATA_DIR": str(settings.data_dir),
        "CHARTER_MQTT_URL": settings.mqtt_url,
        "CHARTER_MQTT_CLIENT_ID": settings.mqtt_client_id,
    }
    env.pop("CHARTER_BUS_URL", None)
    path = tmp / f"gateway-{time.monotonic_ns()}.log"
    with path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "charter.cli", "gateway"],
            env=env,
            cwd=tmp,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    assert wait_until(lambda: "gateway on" in path.read_text(), 60), path.read_text()
    return proc


@pytest.mark.slow
def test_broker_restart_and_gateway_kill_lose_nothing_acknowledged_and_store_nothing_twice(
    broker: Daemon, tmp_path: Path, platform: Platform, city: SampleCity
) -> None:
    settings = settings_for(broker, tmp_path)
    signers = air_devices(platform, 10)
    seqs = {s.device_id: 0 for s in signers}

    def send_round(device: Device) -> None:
        for s in signers:
            seqs[s.device_id] += 1
            now = datetime.now(UTC)
            device.send(s.device_id, s.envelope(seqs[s.device_id], now, [air_reading(now)]))

    gateway = _gateway_process(tmp_path, settings)
    device = Device(settings)
    try:
        send_round(device)
        assert wait_until(lambda: platform.store.count_readings() == 10, 60, step=0.1)
        send_round(device)
        broker.restart()  # graceful: the broker keeps its sessions and queued messages
        device.connected.clear()
        assert device.connected.wait(20)
        send_round(device)
        gateway.send_signal(signal.SIGKILL)  # the gateway dies mid-stream
        gateway.wait()
        send_round(device)  # held by the broker for the gateway's session
        gateway = _gateway_process(tmp_path, settings)
        send_round(device)
        expected = 50
        assert wait_until(lambda: platform.store.count_readings() >= expected, 60, step=0.1), (
            platform.store.count_readings()
        )
        time.sleep(1)
    finally:
        device.close()
        gateway.terminate()
        gateway.wait(timeout=20)
    store = platform.store
    assert store.count_readings() == expected
    with store.engine.connect() as conn:  # type: ignore[attr-defined]
        twice = conn.execute(
            text("SELECT device_id, seq FROM readings GROUP BY device_id, seq HAVING count(*) > 1")
        ).all()
    assert twice == []
    assert store.rejections_by_reason() == {}


def test_devices_receive_signed_commands_and_refuse_anything_else(
    broker: Daemon, tmp_path: Path, platform: Platform, city: SampleCity
) -> None:
    settings = settings_for(broker, tmp_path)
    gw = MqttGateway(settings, DirectSink(platform))
    gw.start()
    device = Device(settings)
    air = city.air.device_id
    device.client.subscribe(down_topic(ROOT, air), qos=1)
    time.sleep(0.2)
    try:
        # The platform's command signer; the actuator holds only its public key.
        signer = platform.security.commands
        command = signer.sign(air, "set_period", {"seconds": 60})
        gw.send_command(air, command.to_wire())
        assert wait_until(lambda: len(device.received) == 1, 10)
        wire = device.received[0]
        got = CommandVerifier(air, signer.public_key_b64, platform.clock).verify(wire)
        assert got.action == "set_period" and got.params == {"seconds": 60}
        with pytest.raises(CommandRefused, match="wrong_target"):
            CommandVerifier(city.flood.device_id, signer.public_key_b64, platform.clock).verify(
                wire
            )
        with pytest.raises(CommandRefused, match="bad_signature"):
            forged = wire.replace(b"set_period", b"open_valve")
            CommandVerifier(air, signer.public_key_b64, platform.clock).verify(forged)
        other = load_or_create(tmp_path / "other.pem", "other").public_key_b64()
        with pytest.raises(CommandRefused, match="bad_signature"):
            CommandVerifier(air, other, platform.clock).verify(wire)
    finally:
        device.close()
        gw.stop()


def test_the_gateway_speaks_tls_with_credentials(
    tmp_path: Path, platform: Platform, city: SampleCity
) -> None:
    from tests.transport.tls import make_certificates

    need(shutil.which("mosquitto_passwd") is not None, "mosquitto_passwd is not installed")
    ca, cert, key = make_certificates(tmp_path / "tls")
    passwd = tmp_path / "passwd"
    passwd.write_text("gateway:secret\ndevice:devpass\n")
    subprocess.run(["mosquitto_passwd", "-U", str(passwd)], check=True, capture_output=True)
    passwd.chmod(0o644)
    # TLS on the listener; a password file: a wrong password is refused.
    extra = f"cafile {ca}\ncertfile {cert}\nkeyfile {key}\npassword_file {passwd}\n"
    with own_mosquitto(tmp_path / "mosquitto", extra) as tls_broker:
        base = dict(
            data_dir=tmp_path / "data",
            mqtt_url=f"mqtts://127.0.0.1:{tls_broker.port}",
            mqtt_tls_ca=ca,
        )
        gw_settings = Settings(
            **base, mqtt_client_id=unique("gw-"), mqtt_username="gateway", mqtt_password="secret"
        )
        gw = MqttGateway(gw_settings, DirectSink(platform))
        gw.start()
        device = Device(Settings(**base, mqtt_username="device", mqtt_password="devpass"))
        try:
            device.send(city.air.device_id, city.envelope(city.air))
            assert wait_until(lambda: platform.store.count_readings() == 1, 20)
        finally:
            device.close()
            gw.stop()
        # Without the password the broker refuses the gateway.
        wrong = MqttGateway(
            Settings(
                **base, mqtt_client_id=unique("gw-"), mqtt_username="gateway", mqtt_password="wrong"
            ),
            DirectSink(platform),
        )
        with pytest.raises(RuntimeError):
            wrong.start(timeout=3)
        wrong.client.loop_stop()
