"""Forms of the public portal: CSRF, comments through the consultation service, bad input,
sessions over the API's tokens, role checks."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated

import pytest
from fastapi import Depends, Request
from fastapi.testclient import TestClient

from charter.api.app import create_app
from charter.auth import Role, revoke_token
from charter.bootstrap import Platform
from charter.domain.model import Actor
from charter.portal.session import require_role
from charter.portal.web import page_router
from charter.sim import city as sample
from charter.sim.demo_register import show_register

FLOOD = sample.FLOOD
PAGE = f"/city/consultations/{FLOOD}"
POST = f"{PAGE}/comments"


@pytest.fixture
def city(platform: Platform) -> Platform:
    sample.seed(platform.registry, 12)
    show_register(platform)
    return platform


@pytest.fixture
def web(city: Platform) -> Iterator[TestClient]:
    with TestClient(create_app(city)) as c:
        yield c


def csrf(client: TestClient, url: str = PAGE) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', client.get(url).text)
    assert match, "the page has no CSRF field"
    return match.group(1)


def comments(p: Platform) -> int:
    c = p.registry.lifecycle.open_for(FLOOD)
    assert c is not None
    return sum(p.store.stance_counts(c.id).values())


def test_a_comment_is_stored_through_the_consultation_service(
    web: TestClient, city: Platform
) -> None:
    before = comments(city)
    r = web.post(
        POST,
        data={"csrf": csrf(web), "stance": "support", "text": "Sirens near the school, please."},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"].startswith(PAGE)
    assert comments(city) == before + 1
    page = web.get(r.headers["location"]).text
    assert "Thank you: your comment was received" in page
    assert "Sirens near the school, please." in page


def test_the_form_says_what_is_kept_about_the_commenter(web: TestClient) -> None:
    page = web.get(PAGE).text
    form = page[page.index('<form method="post"') : page.index("You said, we did")]
    assert "What is kept about you" in form
    assert "never published" in form and "keyed fingerprint" in form


@pytest.mark.parametrize(
    "forge",
    [
        lambda token: {},  # no token at all
        lambda token: {"csrf": "0" * 64},  # a made-up token
        lambda token: {"csrf": token[:-1] + ("0" if token[-1] != "0" else "1")},  # altered
    ],
    ids=["missing", "made-up", "altered"],
)
def test_a_forged_csrf_token_is_refused_and_nothing_stored(
    web: TestClient, city: Platform, forge
) -> None:  # type: ignore[no-untyped-def]
    before = comments(city)
    data = {"stance": "oppose", "text": "forged", **forge(csrf(web))}
    r = web.post(POST, data=data, follow_redirects=False)
    assert r.status_code == 403
    assert "FORBIDDEN" in r.text and "security token" in r.text
    assert comments(city) == before


def test_a_token_from_another_browser_is_refused(city: Platform) -> None:
    """Double submit: the field must match this browser's cookie, not anyone's."""
    with TestClient(create_app(city)) as alice, TestClient(create_app(city)) as mallory:
        stolen = csrf(mallory)
        csrf(alice)
        before = comments(city)
        r = alice.post(POST, data={"csrf": stolen, "text": "x"}, follow_redirects=False)
        assert r.status_code == 403
        assert comments(city) == before


def test_script_in_a_comment_is_shown_escaped_never_run(web: TestClient, city: Platform) -> None:
    evil = '<script>alert("pwned")</script><img src=x onerror=alert(1)>'
    r = web.post(POST, data={"csrf": csrf(web), "text": evil, "name": "<b>Eve</b>"})
    assert r.status_code == 200
    page = web.get(PAGE).text
    assert '<script>alert("pwned")' not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;" in page
    assert "Eve" not in page  # names are never shown
    assert "&lt;script&gt;" in web.get("/city/transparency", params={"project": FLOOD}).text


@pytest.mark.parametrize(
    ("data", "status", "reason"),
    [
        ({"text": "x" * 5000}, 422, "VALIDATION_FAILED"),
        ({"text": ""}, 422, "VALIDATION_FAILED"),  # a plain comment needs text
        ({"text": "hi", "stance": "shout"}, 422, "VALIDATION_FAILED"),
        ({"text": "hi", "name": "n" * 201}, 422, "VALIDATION_FAILED"),
        ({"text": "hi", "contact": "c" * 201}, 422, "VALIDATION_FAILED"),
    ],
    ids=["oversized", "empty", "bad-stance", "long-name", "long-contact"],
)
def test_bad_comments_get_the_error_page_and_nothing_is_stored(
    web: TestClient, city: Platform, data: dict[str, str], status: int, reason: str
) -> None:
    before = comments(city)
    r = web.post(POST, data={"csrf": csrf(web), **data})
    assert r.status_code == status
    assert reason in r.text and "Nothing was stored" in r.text
    assert "Traceback" not in r.text
    assert comments(city) == before


def test_commenting_on_a_project_not_in_consultation_is_refused(web: TestClient) -> None:
    url = f"/city/consultations/{sample.TRAFFIC}"
    token = csrf(web)  # the form of an open consultation: tokens are per browser
    r = web.post(f"{url}/comments", data={"csrf": token, "text": "late"})
    assert r.status_code == 409
    assert "CONSULTATION_CLOSED" in r.text
    assert "The project is not open for comments." in r.text
    r = web.post(
        f"{url}/comments", data={"csrf": token, "text": "late"}, headers={"accept-language": "ja"}
    )
    assert "このプロジェクトは意見を受け付けていません。" in r.text


def test_a_json_body_is_not_a_form(web: TestClient) -> None:
    r = web.post(POST, json={"text": "hi"})
    assert r.status_code == 422 and "<html" in r.text


# --- sessions ----------------------------------------------------------------------------


def test_signing_in_sets_a_strict_http_only_cookie_and_revoking_ends_it(city: Platform) -> None:
    token = city.security.issuer.issue("alice", Role.OPERATOR)
    with TestClient(create_app(city)) as c:
        r = c.post(
            "/signin",
            data={"csrf": csrf(c, "/signin"), "token": token, "next": "/map"},
            follow_redirects=False,
        )
        assert r.status_code == 303 and r.headers["location"] == "/map"
        cookie = next(v for v in r.headers.get_list("set-cookie") if "charter_session=" in v)
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie
        assert "Secure" not in cookie  # plain http here
        assert token not in cookie  # signed and encoded, not the token as sent
        assert "Signed in as alice" in c.get("/").text
        revoke_token(city.store, token)
        assert "Signed in as" not in c.get("/").text


def test_the_session_cookie_is_secure_over_tls(city: Platform) -> None:
    token = city.security.issuer.issue("bob", Role.COUNCIL)
    with TestClient(create_app(city), base_url="https://testserver") as c:
        r = c.post(
            "/signin",
            data={"csrf": csrf(c, "/signin"), "token": token},
            follow_redirects=False,
        )
        cookies = r.headers.get_list("set-cookie")
        assert all("Secure" in v for v in cookies)


def test_a_bad_token_does_not_sign_in(web: TestClient) -> None:
    r = web.post("/signin", data={"csrf": csrf(web, "/signin"), "token": "chr_nonsense"})
    assert r.status_code == 401
    assert "UNAUTHENTICATED" in r.text and "charter_session" not in r.headers.get("set-cookie", "")


def test_require_role_is_the_apis_rule_over_the_session(city: Platform) -> None:
    router = page_router()

    @router.get("/test-only/council")
    def council_page(
        request: Request, who: Annotated[Actor, Depends(require_role(Role.COUNCIL))]
    ) -> dict[str, str]:
        return {"name": who.name}

    app = create_app(city)
    app.include_router(router)
    with TestClient(app) as c:
        r = c.get("/test-only/council")
        assert (
            r.status_code == 401 and "/signin" in r.text and "sign in to open this page" in r.text
        )
        resident = city.security.issuer.issue("rita", Role.RESIDENT, subject="r-1")
        c.post("/signin", data={"csrf": csrf(c, "/signin"), "token": resident})
        r = c.get("/test-only/council")
        assert r.status_code == 403 and "FORBIDDEN" in r.text
        council = city.security.issuer.issue("carl", Role.COUNCIL)
        c.post("/signin", data={"csrf": csrf(c, "/signin"), "token": council})
        assert c.get("/test-only/council").json() == {"name": "carl"}
        # An API client with a bearer token gets through the same door.
    with TestClient(app) as api:
        r = api.get("/test-only/council", headers={"authorization": f"Bearer {council}"})
        assert r.json() == {"name": "carl"}


def test_signing_out_needs_the_csrf_token(city: Platform) -> None:
    token = city.security.issuer.issue("alice", Role.OPERATOR)
    with TestClient(create_app(city)) as c:
        c.post("/signin", data={"csrf": csrf(c, "/signin"), "token": token})
        assert c.post("/signout", data={"next": "/"}).status_code == 403
        assert "Signed in as alice" in c.get("/").text
        c.post("/signout", data={"csrf": csrf(c, "/")})
        assert "Signed in as" not in c.get("/").text


def test_a_form_over_the_size_limit_gets_the_error_page_not_json(
    web: TestClient, city: Platform
) -> None:
    """The body limit answers before any route; a browser still gets a page it can read."""
    before = comments(city)
    too_big = "x" * (city.settings.max_request_bytes + 1)
    r = web.post(
        POST,
        data={"csrf": csrf(web), "stance": "support", "text": too_big},
        headers={"Accept": "text/html", "Accept-Language": "ja"},
        follow_redirects=False,
    )
    assert r.status_code == 413
    assert r.headers["content-type"].startswith("text/html")
    assert "REQUEST_TOO_LARGE" in r.text and "<html" in r.text
    assert 'lang="ja"' in r.text
    assert comments(city) == before
    # An API client keeps its problem+json.
    api = web.post(POST, content=too_big.encode(), headers={"Accept": "application/json"})
    assert api.status_code == 413
    assert api.headers["content-type"] == "application/problem+json"
