"""`charter demo`: seed a sample city, serve the API, and let its devices talk to it."""

from __future__ import annotations

import resource
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from charter.api import server as api_server
from charter.api.app import create_app
from charter.auth import Role
from charter.bootstrap import Platform
from charter.sim import city as sample
from charter.sim import demo_residents
from charter.sim.demo_register import publish_algorithms, show_register
from charter.sim.demo_services import run_services
from charter.sim.demo_trust import show_trust
from charter.sim.traffic import Traffic


@dataclass
class DemoSummary:
    admitted: int
    rejected: dict[str, int]
    quarantined: int
    ledger_size: int
    ledger_root: str
    peak_rss_mb: float
    envelopes_sent: int
    tokens: dict[str, str] = field(default_factory=dict)
    services: dict[str, dict[str, Any]] = field(default_factory=dict)


def peak_rss_mb() -> float:
    """This process's peak resident memory.

    VmHWM belongs to this program's memory map; ru_maxrss would also count a
    parent's peak, which Linux carries across exec.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def prepare(platform: Platform, n_devices: int) -> sample.City:
    keys = platform.settings.data_dir / "sim" / "devices.json"
    if platform.store.list_devices():
        if not keys.exists():
            raise SystemExit(
                f"{platform.settings.data_dir} holds a register but no simulated device keys; "
                "run the demo with a fresh --data-dir"
            )
        return sample.load(keys)
    city = seed_city(platform, n_devices)
    sample.save(city, keys)
    return city


def seed_city(platform: Platform, n_devices: int) -> sample.City:
    """What `charter demo` puts on an empty register (the portal's tests seed the same)."""
    city = sample.seed(platform.registry, n_devices, services=True)
    show_register(platform)  # a consultation with feedback, an amendment, a retired project
    publish_algorithms(platform)  # the services the demo runs, on the algorithm register
    return city


class Devices(threading.Thread):
    """Simulated devices sending signed envelopes over HTTP, honest and otherwise."""

    def __init__(self, city: sample.City, url: str, period_s: float) -> None:
        super().__init__(daemon=True, name="sim-devices")
        self.traffic = Traffic(city)
        self.url, self.period_s = url, period_s
        self.stop = threading.Event()
        self.sent = 0

    def run(self) -> None:
        devices = self.traffic.city.devices
        self.traffic.start(datetime.now(UTC))
        per_tick = max(1, round(len(devices) / self.period_s))
        cursor, tick = 0, 0
        with httpx.Client(base_url=self.url, timeout=10) as client:
            while not self.stop.is_set():
                started = time.monotonic()
                now = datetime.now(UTC)
                for _ in range(per_tick):
                    device = devices[cursor % len(devices)]
                    cursor += 1
                    self._post(client, self.traffic.honest(device, now))
                if tick % 2 == 0:
                    for _label, body in self.traffic.mischief(now):
                        self._post(client, body)
                tick += 1
                self.stop.wait(max(0.0, 1.0 - (time.monotonic() - started)))

    def _post(self, client: httpx.Client, body: bytes) -> None:
        try:
            client.post("/ingest", content=body, headers={"content-type": "application/json"})
            self.sent += 1
        except httpx.HTTPError:
            if not self.stop.is_set():
                time.sleep(0.2)


def run(
    platform: Platform,
    *,
    host: str,
    port: int,
    duration: float | None,
    n_devices: int,
    period_s: float,
    say: Callable[[str], None],
) -> DemoSummary:
    city = prepare(platform, n_devices)
    tokens = {
        role.value: platform.security.issuer.issue(f"demo-{role.value}", role)
        for role in (Role.OPERATOR, Role.COUNCIL, Role.AUDITOR)
    }
    app = create_app(platform)
    settings = platform.settings.model_copy(update={"host": host, "port": port})
    server = uvicorn.Server(api_server.config(app, settings))
    thread = threading.Thread(target=server.run, daemon=True, name="api")
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise SystemExit(f"the API could not start on {host}:{port}")
        time.sleep(0.05)
    url = f"http://{host}:{port}"
    say(f"portal at {url}/  (sensor map {url}/map, ledger check {url}/city/ledger/verify)")
    say(f"API at {url}  (OpenAPI docs at {url}/docs)")
    say(f"public register: {url}/register/projects  map: {url}/register/devices.geojson")
    for role, token in tokens.items():
        say(f"{role} token: {token}")
    show_trust(platform, say)
    tokens.update(demo_residents.show(platform, city, say))
    say(
        f"{len(city.devices)} simulated devices are sending; "
        + (f"stopping after {duration:g} s" if duration else "Ctrl-C to stop")
    )
    devices = Devices(city, url, period_s)
    devices.start()
    services: dict[str, dict[str, Any]] = {}
    say("city services on their simulated city (each on a simulated clock, through the gate):")
    runner = threading.Thread(
        target=lambda: services.update(run_services(say)), daemon=True, name="demo-services"
    )
    runner.start()
    try:
        deadline = time.monotonic() + duration if duration else None
        while deadline is None or time.monotonic() < deadline:
            time.sleep(0.2)
        while runner.is_alive():  # the services' scenarios take a few seconds: let them end
            runner.join(0.2)
    except KeyboardInterrupt:
        pass
    devices.stop.set()
    devices.join(timeout=15)
    server.should_exit = True
    thread.join(timeout=15)
    checkpoint = platform.ledger.checkpoint()
    return DemoSummary(
        admitted=platform.store.count_readings(),
        rejected=platform.store.rejections_by_reason(),
        quarantined=platform.store.count_quarantine("held"),
        ledger_size=checkpoint.size,
        ledger_root=checkpoint.root.hex(),
        peak_rss_mb=peak_rss_mb(),
        envelopes_sent=devices.sent,
        tokens=tokens,
        services=services,
    )
