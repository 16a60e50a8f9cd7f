"""A consultation in Chromium, end to end: a resident's comment (script in it shown as
text, never run) becomes part of a theme and gets a response; the council cannot
approve before the period ends, and can after."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from charter.domain.model import ProjectStatus
from charter.sim import city as sample
from tests.portal.conftest import Live, sign_in, tab_to

COMMENT = "Put the gauge on the bridge <script>window.pwned=1</script> please"


def _comment_by_keyboard(page: Any, live: Live) -> None:
    """The public comment form, with the keyboard alone."""
    page.goto(f"{live.url}/city/consultations/{sample.FLOOD}")
    tab_to(page, "textarea#text")
    page.keyboard.type(COMMENT)
    tab_to(page, "form[action$='/comments'] button[type=submit]")
    with page.expect_navigation():
        page.keyboard.press("Enter")


def test_a_comment_becomes_a_theme_gets_a_response_and_the_council_decides_after(
    page: Any, live: Live
) -> None:
    _comment_by_keyboard(page, live)
    assert page.evaluate("window.pwned") is None  # shown as text, never executed
    consultation = live.platform.registry.lifecycle.open_for(sample.FLOOD)
    assert consultation is not None
    [mine] = [c for c in live.platform.store.comments(consultation.id) if c.text == COMMENT]

    sign_in(page, live, live.tokens["operator"], "/console")
    page.goto(f"{live.url}/console/consultations/{sample.FLOOD}")
    assert page.evaluate("window.pwned") is None
    page.check(f"#comment-{mine.id}")
    page.fill("#title", "Where the gauges stand")
    page.fill("#summary", "People asked for a gauge on the bridge.")
    with page.expect_navigation():
        page.click("text=Add the theme")
    [theme] = [
        t for t in live.platform.store.themes(consultation.id) if t.title.startswith("Where")
    ]
    assert live.platform.store.get_comment(mine.id).theme_id == theme.id
    page.fill(f"#response-{theme.id}", "You said the bridge; we added a gauge on the bridge.")
    with page.expect_navigation():
        page.click(f"form[action$='/themes/{theme.id}/response'] button")
    assert "Response published." in page.content()

    page.context.clear_cookies()
    sign_in(page, live, live.tokens["council"], "/console")
    page.goto(f"{live.url}/console/consultations/{sample.FLOOD}")
    page.check("#verdict-approve")
    page.fill("#decision-why", "the residents' concerns are answered")
    with page.expect_navigation():
        page.click("text=Record the decision")
    assert "CONSULTATION_NOT_OVER" in page.content()  # not before the period ends
    assert live.platform.store.get_project(sample.FLOOD).status is ProjectStatus.CONSULTATION

    live.clock.advance(timedelta(days=live.platform.settings.consultation_days))
    page.goto(f"{live.url}/console/consultations/{sample.FLOOD}")
    page.check("#verdict-approve")
    page.fill("#decision-why", "the residents' concerns are answered")
    with page.expect_navigation():
        page.click("text=Record the decision")
    assert live.platform.store.get_project(sample.FLOOD).status is ProjectStatus.APPROVED

    page.goto(f"{live.url}/city/consultations/{sample.FLOOD}")  # "you said, we did", public
    assert "we added a gauge on the bridge" in page.content()
    assert page.evaluate("window.pwned") is None
