"""The portal's browser tests: a REAL `charter` server over the sample city, and Chromium.

`live` starts uvicorn in a thread on a free port over a platform on a fresh SQLite
file, seeded as `charter demo` seeds it (the sample city, its consultation with
comments and themes, its residents). Its clock is the system clock plus an offset
the tests may move forward (a consultation's period ending), so the server and the
test see the same time. `browser` is Debian's Chromium at /usr/bin/chromium, driven
by Playwright; no browser is ever downloaded. Under CI=true a missing Chromium or
Playwright fails the tests instead of skipping them.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from charter.api import server as api_server
from charter.api.app import create_app
from charter.auth import Role
from charter.bootstrap import Platform, build
from charter.device import FobKey
from charter.domain.model import Actor
from charter.settings import Settings
from charter.sim import city as sample
from charter.sim import demo_residents
from charter.sim.demo import seed_city

CHROMIUM = "/usr/bin/chromium"
AA_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
DESK = Actor(name="test-desk", role="operator")


class OffsetClock:
    """The system clock plus an offset the test moves forward: both sides of a live
    server see one time, and a consultation's period can end without sleeping."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def monotonic(self) -> float:
        return time.monotonic() + self.offset.total_seconds()

    def advance(self, delta: timedelta) -> None:
        self.offset += delta


@dataclass
class Resident:
    id: str
    token: str
    fob: FobKey
    actor: Actor


@dataclass
class Live:
    """The running server and what the tests need to act as each audience."""

    url: str
    platform: Platform
    clock: OffsetClock
    city: sample.City
    tokens: dict[str, str] = field(default_factory=dict)
    seq: int = 0

    def resident(self, name: str) -> Resident:
        """A new resident (enrolled at the desk) with a fob linked by proof of possession."""
        rights = self.platform.rights
        rid = rights.residents.create(DESK).id
        me = Actor(name=name, role="resident", subject=rid)
        token = self.platform.security.issuer.issue(name, Role.RESIDENT, subject=rid)
        fob = FobKey()
        demo_residents.link_fob(rights.residents, rid, fob, me)
        return Resident(rid, token, fob, me)

    def fob_read(self, resident: Resident) -> str | None:
        """The resident's fob asks a crossing for more time, through the real gate's HTTP
        door; the reason it was refused, or None when admitted."""
        import httpx

        from charter.device import SimReading

        traffic = self.city.by_kind("traffic")[0]
        now = self.clock.now()
        self.seq = max(self.seq + 1, int(now.timestamp() * 1000))
        reading = SimReading(
            demo_residents.CROSSING,
            now,
            {"fob": resident.fob.identifier, "extra_seconds": 8},
            {"extra_seconds": "s"},
        )
        body = traffic.signer.envelope(self.seq, now, [reading])
        r = httpx.post(
            f"{self.url}/ingest", content=body, headers={"content-type": "application/json"}
        )
        out: dict[str, Any] = r.json()
        assert r.status_code == 200, out
        if out["admitted"] == 1:
            return None
        return str(out["readings"][0]["reason"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def seed_demo(platform: Platform, n_devices: int = 60) -> sample.City:
    """What `charter demo` seeds: the sample city, its register's story, its algorithms."""
    return seed_city(platform, n_devices)


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    data = tmp_path_factory.mktemp("portal") / "data"
    clock = OffsetClock()
    port = _free_port()
    # Tokens outlive the consultation period the tests jump over.
    settings = Settings(data_dir=data, host="127.0.0.1", port=port, token_ttl_s=365 * 86_400)
    platform = build(settings, clock=clock)
    city = seed_demo(platform)
    tokens = {
        role.value: platform.security.issuer.issue(f"test-{role.value}", role)
        for role in (Role.OPERATOR, Role.COUNCIL, Role.AUDITOR)
    }
    tokens["operator2"] = platform.security.issuer.issue("test-operator-2", Role.OPERATOR)
    tokens.update(demo_residents.show(platform, city, lambda _m: None))
    app = create_app(platform)
    server = uvicorn.Server(api_server.config(app, settings))
    thread = threading.Thread(target=server.run, daemon=True, name="portal-test-server")
    thread.start()
    while not server.started:
        assert thread.is_alive(), "the server could not start"
        time.sleep(0.05)
    try:
        yield Live(f"http://127.0.0.1:{port}", platform, clock, city, tokens)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        platform.close()


def _chromium_or_fail() -> None:
    missing = []
    if shutil.which(CHROMIUM) is None and not Path(CHROMIUM).exists():
        missing.append(f"Chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("Playwright (pip install -e '.[test]')")
    if missing:
        message = "the browser tests need " + " and ".join(missing)
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Per module: Playwright's sync API is stopped before the next module, which may
    start its own (tests/portal/test_public_ledger_browser.py does)."""
    _chromium_or_fail()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context (no cookies) at a desktop size, English first."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    context.set_default_timeout(10_000)
    p = context.new_page()
    try:
        yield p
    finally:
        context.close()


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    """A phone: 390 px wide, touch."""
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, locale="en-GB"
    )
    context.set_default_timeout(10_000)
    p = context.new_page()
    try:
        yield p
    finally:
        context.close()


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's WCAG 2.1 AA violations on the page as loaded (rule id, and where)."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": AA_TAGS}})
    found: list[dict[str, Any]] = results.response.get("violations", [])
    return [
        {"id": v["id"], "help": v["help"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in found
    ]


def sign_in(page: Any, live: Live, token: str, then: str = "/") -> None:
    """Sign in through the portal's own form, as a person does."""
    page.goto(f"{live.url}/signin?next={then}")
    page.fill("#token", token)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live.url}{then}**")


def tab_to(page: Any, selector: str, limit: int = 80) -> None:
    """Move the focus with the Tab key alone until it reaches `selector`: the keyboard
    path exists, in the page's own order."""
    target = page.locator(selector)
    for _ in range(limit):
        page.keyboard.press("Tab")
        if target.evaluate("el => el === document.activeElement"):
            return
    raise AssertionError(f"{selector} cannot be reached with the Tab key")
