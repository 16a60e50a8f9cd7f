"""Where NGSI-LD notifications may go, and how they are sent (clauses 5.11, 7.x).

``Fence`` is the operator's rule: HTTP(S) only to the hosts listed in
``ngsild_notify_hosts`` (checked when a subscription is made *and* at each send, redirects
never followed, a bounded timeout), MQTT only through Charter's own broker. A subscription
can never make Charter call an address the operator did not allow.
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import httpx

from charter.ngsild.errors import bad_data

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fence:
    """Where notifications may go: the operator's HTTP hosts and Charter's MQTT broker."""

    http_hosts: frozenset[str]
    mqtt_host: str
    mqtt_port: int
    timeout_s: float = 3.0

    def check(self, uri: str) -> str:
        """The endpoint's scheme ("http" or "mqtt") if allowed; 400 BadRequestData if not."""
        if not isinstance(uri, str) or len(uri) > 2048:
            raise bad_data("notification.endpoint.uri must be a URI")
        try:
            u = urlparse(uri)
            port = u.port
        except ValueError:
            raise bad_data("notification.endpoint.uri is not a valid URI") from None
        host = (u.hostname or "").lower()
        if u.scheme in ("http", "https"):
            if u.username or u.password:
                raise bad_data("notification endpoints carry no credentials in the URI")
            default = 443 if u.scheme == "https" else 80
            allowed = host in self.http_hosts or f"{host}:{port or default}" in self.http_hosts
            if not host or not allowed:
                raise bad_data(
                    "the notification endpoint's host is not one the operator allows "
                    "(setting ngsild_notify_hosts)"
                )
            return "http"
        if u.scheme in ("mqtt", "mqtts"):
            if host not in (self.mqtt_host.lower(),) or (port or 1883) != self.mqtt_port:
                raise bad_data("MQTT notifications go only through Charter's own MQTT broker")
            if not u.path.strip("/") or any(c in u.path for c in "#+"):
                raise bad_data("an MQTT endpoint names one topic (no wildcards)")
            return "mqtt"
        raise bad_data("notification.endpoint.uri must be http(s):// or mqtt://")


def http_send(uri: str, headers: dict[str, str], payload: bytes, timeout_s: float) -> bool:
    try:
        response = httpx.post(
            uri,
            content=payload,
            headers=headers,
            timeout=httpx.Timeout(timeout_s),
            follow_redirects=False,
        )
    except httpx.HTTPError:
        return False
    return 200 <= response.status_code < 300


class MqttPublisher:
    """Publishes notifications through Charter's MQTT broker (one paho client, QoS 1)."""

    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self._client: Any = None
        self._lock = threading.Lock()

    def _connected(self) -> Any:
        from charter.transport.mqtt_client import connect, make_client

        if self._client is None:
            client = make_client(
                self.settings, f"charter-ngsild-{uuid.uuid4().hex[:8]}", persistent=False
            )
            connect(client, self.settings, persistent=False)
            client.loop_start()
            self._client = client
        return self._client

    def __call__(self, topic: str, payload: bytes) -> bool:
        try:
            with self._lock:
                client = self._connected()
            info = client.publish(topic, payload, qos=1)
            info.wait_for_publish(timeout=5)
            return bool(info.is_published())
        except Exception:
            log.warning("an MQTT notification could not be published")
            return False

    def close(self) -> None:
        if self._client is not None:
            self._client.loop_stop()
            self._client.disconnect()
            self._client = None
