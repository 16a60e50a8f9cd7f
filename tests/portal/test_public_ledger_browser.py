"""The ledger page verifies an entry in a real browser (Chromium), and a tampered copy fails.

Both Ed25519 paths: the browser's WebCrypto, and the vendored TweetNaCl when WebCrypto
has no Ed25519. Under CI=true a missing Playwright or Chromium is a failure.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from charter.api.app import create_app
from charter.bootstrap import Platform
from charter.sim import city as sample
from charter.sim.demo_register import show_register

CHROMIUM = "/usr/bin/chromium"
DONE = ", ".join(f'#verifier[data-state="{s}"]' for s in ("verified", "failed", "error"))
NO_WEBCRYPTO_ED25519 = """
(() => {
  const real = crypto.subtle.importKey.bind(crypto.subtle);
  crypto.subtle.importKey = (format, key, alg, ...rest) => {
    const name = typeof alg === "string" ? alg : alg && alg.name;
    if (name === "Ed25519") { return Promise.reject(new DOMException("no", "NotSupportedError")); }
    return real(format, key, alg, ...rest);
  };
})();
"""


def _playwright() -> Any:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip("playwright is not installed")
    if not shutil.which(CHROMIUM):
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing")
        pytest.skip(f"{CHROMIUM} is missing")
    return sync_playwright


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def server(platform: Platform) -> Iterator[str]:
    sample.seed(platform.registry, 20)
    show_register(platform)
    port = _free_port()
    config = uvicorn.Config(create_app(platform), host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.mark.parametrize("ed25519", ["webcrypto", "tweetnacl"])
def test_an_entry_verifies_in_the_browser_and_a_tampered_copy_fails(
    server: str, ed25519: str
) -> None:
    sync_playwright = _playwright()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            problems: list[str] = []
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            if ed25519 == "tweetnacl":
                page.add_init_script(NO_WEBCRYPTO_ED25519)
            page.goto(f"{server}/city/ledger/verify?index=7")
            verifier = page.locator("#verifier")
            # (Selectors, not script: the page's CSP rightly forbids evaluating strings.)
            page.wait_for_selector(DONE, timeout=15_000)
            assert verifier.get_attribute("data-state") == "verified", page.inner_text(
                "#verify-result"
            )
            steps = page.inner_text("#verify-steps")
            assert ("TweetNaCl" in steps) == (ed25519 == "tweetnacl"), steps
            page.click("#verify-tampered")
            page.wait_for_selector('#verifier[data-state^="tampered"]', timeout=15_000)
            assert verifier.get_attribute("data-state") == "tampered-failed"
            assert "tampered copy fails" in page.inner_text("#verify-result")
            # Keyboard: the button is reachable and works again.
            page.focus("#verify-entry")
            page.keyboard.press("Enter")
            page.wait_for_selector('#verifier[data-state="verified"]', timeout=15_000)
            assert not problems, problems  # no CSP violation, no script error
        finally:
            browser.close()
