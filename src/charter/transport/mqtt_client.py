"""MQTT client plumbing shared by the gateway, devices and benchmarks.

Topics under the root, the broker address, and a paho client configured as
the settings say (protocol, credentials, TLS, reconnect, session).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlparse

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from charter.settings import Settings


def up_topic(root: str, device_id: str) -> str:
    return f"{root}/{device_id}/up"


def down_topic(root: str, device_id: str) -> str:
    return f"{root}/{device_id}/down"


def ack_topic(root: str, device_id: str) -> str:
    """Where the gateway confirms an envelope once it is committed (see `_ack`)."""
    return f"{root}/{device_id}/ack"


@dataclass(frozen=True)
class Broker:
    host: str
    port: int
    tls: bool


def broker(url: str) -> Broker:
    u = urlparse(url)
    tls = u.scheme in {"mqtts", "ssl"}
    return Broker(u.hostname or "127.0.0.1", u.port or (8883 if tls else 1883), tls)


def make_client(
    settings: Settings, client_id: str, *, manual_ack: bool = False, persistent: bool = True
) -> mqtt.Client:
    """A paho client as the settings say: protocol, credentials, TLS, reconnect."""
    v5 = settings.mqtt_protocol == "5"
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=MQTTProtocolVersion.MQTTv5 if v5 else MQTTProtocolVersion.MQTTv311,
        clean_session=None if v5 else not persistent,
        manual_ack=manual_ack,
    )
    if settings.mqtt_username:
        client.username_pw_set(settings.mqtt_username, settings.mqtt_password)
    if broker(settings.mqtt_url).tls:
        client.tls_set(
            ca_certs=str(settings.mqtt_tls_ca) if settings.mqtt_tls_ca else None,
            certfile=str(settings.mqtt_tls_cert) if settings.mqtt_tls_cert else None,
            keyfile=str(settings.mqtt_tls_key) if settings.mqtt_tls_key else None,
        )
    client.reconnect_delay_set(1, 2)
    client.max_inflight_messages_set(1000)
    return client


def connect(client: mqtt.Client, settings: Settings, *, persistent: bool = True) -> None:
    b = broker(settings.mqtt_url)
    if settings.mqtt_protocol == "5":
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        if persistent:
            props.SessionExpiryInterval = settings.mqtt_session_expiry_s
        props.ReceiveMaximum = 1000
        client.connect(b.host, b.port, keepalive=30, clean_start=not persistent, properties=props)
    else:
        client.connect(b.host, b.port, keepalive=30)
