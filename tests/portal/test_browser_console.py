"""The operator and council console in Chromium: role-gated, quarantine replay, the
two-person rule, and the council's decision only after the consultation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from tests.conftest import air_reading
from tests.portal.conftest import Live, sign_in


def test_the_public_gets_the_translated_403_page_and_a_resident_too(page: Any, live: Live) -> None:
    for lang, words in (("en", "You cannot open this page"), ("ja", "このページは開けません")):
        response = page.goto(f"{live.url}/console/quarantine?lang={lang}")
        assert response is not None and response.status == 403
        assert words in page.content() and "FORBIDDEN" in page.content()
    sign_in(page, live, live.tokens["resident aiko"], "/me")
    response = page.goto(f"{live.url}/console")
    assert response is not None and response.status == 403


def test_an_operator_replays_a_quarantined_envelope(page: Any, live: Live) -> None:
    station = live.city.by_kind("air")[0]
    sent = live.clock.now() - timedelta(minutes=30)  # a gateway's backlog: too old
    station.seq = max(station.seq, int(sent.timestamp() * 1000)) + 1
    body = station.signer.envelope(station.seq, sent, [air_reading(sent)])
    refused = httpx.post(f"{live.url}/ingest", content=body).json()
    assert refused["reason"] == "STALE_TIMESTAMP"
    held = [q for q in live.platform.quarantine.list() if q.reason == "STALE_TIMESTAMP"]
    item = held[-1]
    sign_in(page, live, live.tokens["operator"], "/console")
    page.goto(f"{live.url}/console/quarantine")
    page.fill(f"#why-{item.id}", "gateway backlog after a power cut, checked on site")
    page.select_option(f"#override-{item.id}", "freshness")
    with page.expect_navigation():
        page.click(f"form[action='/console/quarantine/{item.id}/replay'] button")
    assert page.locator("[role=status]").inner_text() == f"Item {item.id} replayed: admitted"
    after = live.platform.store.get_quarantine(item.id)
    assert after is not None and after.status == "replayed"
    size = live.platform.ledger.size
    recent = live.platform.store.ledger_entries(size - 5, size)
    assert any(b"gateway backlog" in e.data for e in recent)  # the why is on the record


def test_a_two_person_action_needs_a_second_person(page: Any, live: Live) -> None:
    sign_in(page, live, live.tokens["operator"], "/console")
    page.goto(f"{live.url}/console/approvals")
    page.select_option("#kind", "enable_service")
    page.fill("#params", "service=hazard")
    page.fill("#why", "the sirens were repaired")
    with page.expect_navigation():
        page.click("form[action='/console/approvals'] button")
    action = page.locator("[role=status]").inner_text().rsplit(":", 1)[1].strip()
    page.fill(f"#why-approve-{action}", "I agree with myself")
    with page.expect_navigation():
        page.click(f"form[action='/console/approvals/{action}/approve'] button")
    assert "SAME_PERSON" in page.content()
    assert live.platform.security.approvals.get(action).status == "pending"
    page.context.clear_cookies()
    sign_in(page, live, live.tokens["operator2"], "/console")
    page.goto(f"{live.url}/console/approvals")
    assert "Proposed by test-operator" in page.content()
    page.fill(f"#why-approve-{action}", "checked the repair report")
    with page.expect_navigation():
        page.click(f"form[action='/console/approvals/{action}/approve'] button")
    assert live.platform.security.approvals.get(action).status in ("approved", "used")
    assert "test-operator-2" in page.content()  # who approved, in the decided list


def test_the_trust_page_gives_the_policys_reasons(page: Any, live: Live) -> None:
    sign_in(page, live, live.tokens["auditor"], "/console")
    page.goto(f"{live.url}/console/trust")
    assert "shadowtech" in page.content()
    assert "missing certification" in page.content()
    page.goto(f"{live.url}/console/services")
    assert page.locator("h1").inner_text() == "Live services"
