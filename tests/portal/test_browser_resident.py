"""The resident app in Chromium: consent switches change what the gate does with the
resident's very next fob read; another resident's pages are refused; erase asks first."""

from __future__ import annotations

from typing import Any

from tests.portal.conftest import Live, sign_in, tab_to

SWITCH_ON = "form:has(input[value$='|crossing-assistance']) button[value=on]"
SWITCH_OFF = "form:has(input[value$='|crossing-assistance']) button[value=off]"


def test_opting_in_and_out_by_keyboard_changes_the_gates_next_fob_read(
    page: Any, live: Live
) -> None:
    eve = live.resident("eve")
    assert live.fob_read(eve) == "NO_CONSENT"  # nothing is taken before she opts in
    sign_in(page, live, eve.token, "/me")
    page.goto(f"{live.url}/me/{eve.id}/consents")
    assert "What is kept" in page.content()
    tab_to(page, SWITCH_ON)
    page.keyboard.press("Enter")
    page.wait_for_url("**/consents?done=on")
    assert page.locator("[role=status]").inner_text().startswith("Consent given")
    assert live.fob_read(eve) is None  # admitted, encrypted under her key
    tab_to(page, SWITCH_OFF)
    page.keyboard.press("Enter")
    page.wait_for_url("**/consents?done=off")
    assert live.fob_read(eve) == "NO_CONSENT"  # the very next reading is refused
    page.goto(f"{live.url}/me/{eve.id}")
    assert "Readings about you" in page.content()
    page.goto(f"{live.url}/me/{eve.id}/receipts")
    assert page.locator("text=Consent withdrawn").count() == 1
    assert page.locator("text=Consent given").count() == 1


def test_a_residents_session_on_another_residents_pages_is_refused(page: Any, live: Live) -> None:
    fay, gus = live.resident("fay"), live.resident("gus")
    sign_in(page, live, fay.token, "/me")
    for lang, words in (("en", "You cannot open this page"), ("ja", "このページは開けません")):
        response = page.goto(f"{live.url}/me/{gus.id}/consents?lang={lang}")
        assert response is not None and response.status == 403
        assert words in page.content() and "FORBIDDEN" in page.content()
        assert "Traceback" not in page.content()


def test_erasing_asks_for_a_confirmation_first(page: Any, live: Live) -> None:
    hal = live.resident("hal")
    sign_in(page, live, hal.token, "/me")
    page.goto(f"{live.url}/me/{hal.id}/erase")
    page.fill("#confirm", "yes")  # not the word asked for: nothing is erased
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.locator("h1").inner_text() == "We could not accept that"
    assert live.platform.store.get_resident(hal.id).status != "erased"
    page.goto(f"{live.url}/me/{hal.id}/erase")
    page.fill("#confirm", "ERASE")
    page.keyboard.press("Enter")
    page.wait_for_selector("text=You are erased")
    assert live.platform.store.get_resident(hal.id).status == "erased"


def test_the_resident_app_fits_a_phone(phone: Any, live: Live) -> None:
    ivy = live.resident("ivy")
    sign_in(phone, live, ivy.token, "/me")
    for path in ("", "/consents", "/access", "/receipts", "/erase"):
        phone.goto(f"{live.url}/me/{ivy.id}{path}")
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"/me/…{path} is {width} px wide on a 390 px phone"
