"""`charter portal screenshots`: a picture of each main page, in English and Japanese.

The sample city is seeded as `charter demo` seeds it (its register's story, its
residents, an hour of honest and bad traffic through the gate so the quarantine
holds something), served by a real server on a free port, and photographed by
Debian's Chromium through Playwright (the `test` extra; never a downloaded
browser). The pictures go to `docs/screenshots/<page>-<lang>.png`.
"""

from __future__ import annotations

import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from charter.sim import city as sample

if TYPE_CHECKING:
    from charter.bootstrap import Platform

CHROMIUM = "/usr/bin/chromium"
OUT = Path("docs/screenshots")


@dataclass(frozen=True)
class Shot:
    name: str
    path: str
    who: str = "public"  # public | resident | operator | council


def shots(resident_id: str) -> list[Shot]:
    return [
        Shot("home", "/"),
        Shot("map", "/map"),
        Shot("project", f"/city/projects/{sample.FLOOD}"),
        Shot("consultation", f"/city/consultations/{sample.FLOOD}"),
        Shot("ledger", "/city/ledger"),
        Shot("resident-consents", f"/me/{resident_id}/consents", "resident"),
        Shot("resident-access", f"/me/{resident_id}/access", "resident"),
        Shot("console-quarantine", "/console/quarantine", "operator"),
        Shot("console-trust", "/console/trust", "operator"),
        Shot("console-consultation", f"/console/consultations/{sample.FLOOD}", "council"),
        Shot("console-approvals", "/console/approvals", "operator"),
    ]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def demo_server(devices: int) -> Iterator[tuple[str, Platform, dict[str, str]]]:
    """The demo city on a real server: (url, platform, tokens by role or resident)."""
    # Imported here: `charter --help` need not load the web application.
    import uvicorn

    from charter.api import server as api_server
    from charter.api.app import create_app
    from charter.auth import Role
    from charter.bootstrap import build
    from charter.settings import Settings
    from charter.sim import demo, demo_residents
    from charter.sim.traffic import Traffic

    with tempfile.TemporaryDirectory(prefix="charter-screenshots-") as tmp:
        settings = Settings(data_dir=Path(tmp) / "data", host="127.0.0.1", port=_free_port())
        platform = build(settings)
        try:
            city = demo.prepare(platform, devices)
            tokens = {
                role.value: platform.security.issuer.issue(f"demo-{role.value}", role)
                for role in (Role.OPERATOR, Role.COUNCIL)
            }
            tokens.update(demo_residents.show(platform, city, lambda _m: None))
            traffic = Traffic(city)
            now = datetime.now(UTC)
            traffic.start(now)
            honest = [traffic.honest(d, now) for d in city.devices[:200]]
            platform.gate.ingest(honest)
            platform.gate.ingest([body for _label, body in traffic.mischief(now)])
            app = create_app(platform)
            server = uvicorn.Server(api_server.config(app, settings))
            thread = threading.Thread(target=server.run, daemon=True, name="screenshots")
            thread.start()
            while not server.started:
                if not thread.is_alive():
                    raise RuntimeError("the server could not start")
                time.sleep(0.05)
            try:
                yield f"http://127.0.0.1:{settings.port}", platform, tokens
            finally:
                server.should_exit = True
                thread.join(timeout=15)
        finally:
            platform.close()


def _has_japanese_font() -> bool:
    """Without one, Chromium draws every Japanese character as an empty box."""
    import shutil
    import subprocess

    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return False
    try:
        found = subprocess.run(  # noqa: S603 (a fixed command, no input from anyone)
            [fc_list, ":lang=ja"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return bool(found.stdout.strip())


def _sign_in(page: Any, url: str, token: str) -> None:
    page.goto(f"{url}/signin")
    page.fill("#token", token)
    with page.expect_navigation():
        page.keyboard.press("Enter")


def take(
    out: Path = OUT,
    langs: tuple[str, ...] = ("en", "ja"),
    devices: int = 1000,
    say: Callable[[str], None] = lambda _m: None,
) -> list[Path]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise RuntimeError("screenshots need Playwright: pip install -e '.[test]'") from None
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"screenshots need Chromium at {CHROMIUM} (apt-get install chromium)")
    if "ja" in langs and not _has_japanese_font():
        raise RuntimeError(
            "Japanese pages need a Japanese font: apt-get install fonts-ipafont-gothic"
        )
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with demo_server(devices) as (url, platform, tokens), sync_playwright() as pw:
        aiko = platform.security.tokens.verify(tokens["resident aiko"]).actor.subject or ""
        by_role = {
            "resident": tokens["resident aiko"],
            "operator": tokens["operator"],
            "council": tokens["council"],
        }
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            for lang in langs:
                contexts: dict[str, Any] = {}
                for shot in shots(aiko):
                    if shot.who not in contexts:
                        ctx = browser.new_context(
                            viewport={"width": 1200, "height": 900}, locale=lang
                        )
                        page = ctx.new_page()
                        if shot.who != "public":
                            _sign_in(page, url, by_role[shot.who])
                        page.goto(f"{url}/lang/{lang}?next=/")
                        contexts[shot.who] = page
                    page = contexts[shot.who]
                    response = page.goto(f"{url}{shot.path}")
                    if response is None or response.status != 200:
                        status = response.status if response else "no answer"
                        say(f"skipped {shot.name} ({lang}): {status}")
                        continue
                    target = out / f"{shot.name}-{lang}.png"
                    page.screenshot(path=str(target))
                    written.append(target)
                    say(f"wrote {target}")
                for page in contexts.values():
                    page.context.close()
        finally:
            browser.close()
    return written


portal_app = typer.Typer(help="The web portal.", no_args_is_help=True)


@portal_app.command("screenshots")
def screenshots(
    out: Path = typer.Option(OUT, "--out", help="Where the PNG files go"),
    devices: int = typer.Option(1000, help="Devices of the demo city"),
) -> None:
    """A screenshot of each main page, in English and Japanese (Chromium via Playwright)."""
    try:
        written = take(out, devices=devices, say=typer.echo)
    except RuntimeError as e:
        typer.echo(f"screenshots: {e}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{len(written)} screenshots in {out}")
