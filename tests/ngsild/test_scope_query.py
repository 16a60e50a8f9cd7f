"""scopeQ (clause 4.19): entities selected by their scopes, in queries and subscriptions."""

from __future__ import annotations

from typing import Any

import pytest

from charter.ngsild.scope import ScopeQueryError, matches, parse_scope_q
from tests.ngsild.conftest import ERRORS, Ngsi, problem
from tests.ngsild.test_subscriptions import Receiver, drain, lite, receiver, room, subscription  # noqa: F401  (fixtures)

PARKS = {
    1: ["/Madrid/Gardens/ParqueNorte"],
    2: ["/Madrid/Gardens/ParqueSur", "/CompanyA"],
    3: ["/Madrid"],
    4: ["/Paris/Gardens/ParqueNorte"],
    5: None,  # no scope
}


def tree(n: int) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": f"urn:ngsi-ld:Tree:{n}",
        "type": "Tree",
        "height": {"type": "Property", "value": n},
    }
    if PARKS[n] is not None:
        body["scope"] = PARKS[n]
    return body


def selected(ngsi: Ngsi, scope_q: str, **params: str) -> list[int]:
    resp = ngsi.http.get(
        "/ngsi-ld/v1/entities",
        params={"type": "Tree", "scopeQ": scope_q, **params},
        headers=ngsi.headers(),
    )
    assert resp.status_code == 200, resp.text
    return [int(e["id"].rsplit(":", 1)[1]) for e in resp.json()]


@pytest.mark.parametrize(
    ("scope_q", "expected"),
    [
        ("/Madrid/Gardens/ParqueNorte", [1]),
        ("/Madrid", [3]),  # exactly that scope, not what lies below it
        ("/Madrid/#", [1, 2, 3]),  # the scope itself and everything below
        ("/Madrid/Gardens/+", [1, 2]),  # one level below
        ("/+/Gardens/ParqueNorte", [1, 4]),  # any one level in the middle
        ("/#", [1, 2, 3, 4]),  # any scope at all: not the tree without one
        ("/Madrid/#;/CompanyA", [2]),  # AND: one entity with scopes matching both
        ("/Madrid,/Paris/#", [3, 4]),  # OR
        ("(/Madrid/Gardens/+,/Paris/#);/CompanyA", [2]),
        ("/Nowhere", []),
    ],
)
def test_scope_q_selects_entities_by_scope(
    any_ngsi: Ngsi, scope_q: str, expected: list[int]
) -> None:
    for n in PARKS:
        assert any_ngsi.create(tree(n)).status_code == 201
    assert selected(any_ngsi, scope_q) == expected


def test_scope_q_pages_and_counts_over_its_matches(ngsi: Ngsi) -> None:
    for n in PARKS:
        ngsi.create(tree(n))
    resp = ngsi.http.get(
        "/ngsi-ld/v1/entities",
        params={
            "type": "Tree",
            "scopeQ": "/Madrid/#",
            "limit": "1",
            "offset": "1",
            "count": "true",
        },
        headers=ngsi.headers(),
    )
    assert [e["id"] for e in resp.json()] == ["urn:ngsi-ld:Tree:2"]
    assert resp.headers["NGSILD-Results-Count"] == "3"


def test_scope_q_in_a_query_body(ngsi: Ngsi) -> None:
    for n in PARKS:
        ngsi.create(tree(n))
    body = {"type": "Query", "entities": [{"type": "Tree"}], "scopeQ": "/Madrid/Gardens/+"}
    resp = ngsi.call("POST", "/entityOperations/query", body)
    assert resp.status_code == 200, resp.text
    assert [e["id"] for e in resp.json()] == ["urn:ngsi-ld:Tree:1", "urn:ngsi-ld:Tree:2"]
    problem(ngsi.call("POST", "/entityOperations/query", {**body, "scopeQ": 7}), 400)


@pytest.mark.parametrize(
    "bad", ["Madrid", "/Madrid/", "/Mad rid", "/#/Madrid", "/a;", "(/a", "/a)", "/a,,/b", "//a"]
)
def test_a_scope_q_outside_the_grammar_is_bad_request_data(ngsi: Ngsi, bad: str) -> None:
    resp = ngsi.http.get(
        "/ngsi-ld/v1/entities", params={"type": "Tree", "scopeQ": bad}, headers=ngsi.headers()
    )
    found = problem(resp, 400)
    assert found["type"] == ERRORS + "BadRequestData"
    assert bad not in found.get("detail", "")  # the caller's text is never echoed


def test_the_parser_is_bounded() -> None:
    with pytest.raises(ScopeQueryError):
        parse_scope_q("(" * 40 + "/a" + ")" * 40)
    with pytest.raises(ScopeQueryError):
        parse_scope_q(",".join(["/a"] * 101))
    with pytest.raises(ScopeQueryError):
        parse_scope_q("/a" * 1001)
    assert matches(parse_scope_q("/a/#"), ["/a"]) and not matches(parse_scope_q("/a/+"), ["/a"])


def test_a_subscription_with_scope_q_notifies_only_for_matching_entities(
    lite: Ngsi,  # noqa: F811
    receiver: Receiver,  # noqa: F811
) -> None:
    body = subscription(receiver, scopeQ="/Madrid/#")
    assert lite.call("POST", "/subscriptions", body).status_code == 201
    inside = {**room(1, 25), "scope": "/Madrid/Centro"}
    outside = {**room(2, 25), "scope": "/Paris"}
    assert lite.create(inside).status_code == 201
    assert lite.create(outside).status_code == 201
    assert lite.create(room(3, 25)).status_code == 201  # no scope
    drain(lite)
    assert [e["id"] for _h, n in receiver.all() for e in n["data"]] == ["urn:ngsi-ld:Room:1"]
    bad = subscription(receiver, scopeQ="Madrid")
    problem(lite.call("POST", "/subscriptions", bad), 400)
