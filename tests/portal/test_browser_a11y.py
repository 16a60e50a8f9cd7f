"""axe-core (axe-playwright-python) finds no WCAG 2.1 AA violation on any portal page,
in English and in Japanese, for each audience: the public, a resident, staff."""

from __future__ import annotations

from typing import Any

import pytest

from charter.sim import city as sample
from tests.portal.conftest import Live, axe_violations, sign_in

PUBLIC = [
    "/",
    "/signin",
    "/map",
    "/city/projects",
    f"/city/projects/{sample.FLOOD}",
    "/city/algorithms",
    "/city/algorithms/emergency-preemption",
    "/city/consultations",
    f"/city/consultations/{sample.FLOOD}",
    "/city/transparency",
    "/city/downloads",
    "/city/ledger",
    "/city/ledger/entries",
    "/city/ledger/verify",
]
RESIDENT = ["", "/consents", "/access", "/receipts", "/erase"]
CONSOLE = [
    "/console",
    "/console/quarantine",
    "/console/trust",
    "/console/consultations",
    f"/console/consultations/{sample.FLOOD}",
    "/console/approvals",
    "/console/services",
]
LANGS = ["en", "ja"]


def _check(page: Any, live: Live, path: str, lang: str) -> list[str]:
    sep = "&" if "?" in path else "?"
    response = page.goto(f"{live.url}{path}{sep}lang={lang}")
    assert response is not None
    if response.status == 404:
        return [f"{path} is missing"]
    assert page.locator("html").get_attribute("lang") == lang
    return [f"{path} ({lang}): {v}" for v in axe_violations(page)]


@pytest.mark.parametrize("lang", LANGS)
def test_public_pages(page: Any, live: Live, lang: str) -> None:
    found = [v for path in PUBLIC for v in _check(page, live, path, lang)]
    assert found == []


@pytest.mark.parametrize("lang", LANGS)
def test_resident_pages(page: Any, live: Live, lang: str) -> None:
    me = live.resident(f"axe-{lang}")
    sign_in(page, live, me.token, "/me")
    found = [v for path in RESIDENT for v in _check(page, live, f"/me/{me.id}{path}", lang)]
    assert found == []


@pytest.mark.parametrize("lang", LANGS)
def test_console_pages(page: Any, live: Live, lang: str) -> None:
    sign_in(page, live, live.tokens["council"], "/console")
    found = [v for path in CONSOLE for v in _check(page, live, path, lang)]
    assert found == []


def test_the_console_and_error_pages_fit_a_phone(phone: Any, live: Live) -> None:
    sign_in(phone, live, live.tokens["operator"], "/console")
    for path in [*CONSOLE, "/console/nothing-here"]:
        phone.goto(f"{live.url}{path}")
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{path} is {width} px wide on a 390 px phone"
