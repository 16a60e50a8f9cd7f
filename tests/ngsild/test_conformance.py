"""Spot checks against the ETSI NGSI-LD conformance tests (GS CIM 014), over HTTP.

Each test names the ETSI test case it reproduces (TP/NGSI-LD/... in the ETSI test suite).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from charter.auth import Role
from charter.bootstrap import build
from charter.domain.clock import FixedClock
from charter.ngsild.api.ngsiq import extras_for
from charter.settings import Settings
from tests.ngsild.conftest import BASE, ERRORS, Ngsi, problem, thing, token

ID = "urn:ngsi-ld:Thing:1"


def content_type(ngsi: Ngsi, path: str, accept: str) -> str:
    r = ngsi.http.get(BASE + path, headers=ngsi.headers(Accept=accept))
    assert r.status_code == 200, (accept, r.text)
    ct: str = r.headers["content-type"]
    return ct.split(";")[0]


def test_location_keeps_the_ids_colons(ngsi: Ngsi) -> None:
    """CommonBehaviours / Provision 001_01 (Create Entity): Location contains the id as sent,
    Check Response Body Is Empty; the same for subscriptions (047_01) and temporal (016_01)."""
    r = ngsi.create(thing())
    assert r.status_code == 201 and r.content == b""
    assert r.headers["location"] == f"{BASE}/entities/{ID}"
    assert ngsi.http.get(r.headers["location"], headers=ngsi.headers()).json()["id"] == ID
    odd = "urn:ngsi-ld:Thing:a/b?c"
    r = ngsi.create(thing(id=odd))
    assert r.status_code == 201, r.text
    assert r.headers["location"] == f"{BASE}/entities/urn:ngsi-ld:Thing:a%2Fb%3Fc"
    speed = [{"type": "Property", "value": 1, "observedAt": "2026-11-29T10:00:00Z"}]
    temporal = {"id": "urn:ngsi-ld:Vehicle:T1", "type": "Vehicle", "speed": speed}
    r = ngsi.call("POST", "/temporal/entities", temporal)
    assert r.status_code == 201, r.text
    assert r.headers["location"] == f"{BASE}/temporal/entities/urn:ngsi-ld:Vehicle:T1"


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("application/ld+json, application/json", "application/json"),  # 045_02_01
        ("application/geo+json, application/json", "application/json"),  # 045_02_02
        ("application/json;q=0.1, application/ld+json;q=0.9", "application/ld+json"),  # 045_02_03
        ("application/ld+json", "application/ld+json"),  # 045_02_04
        ("application/json;q=0, */*", "application/ld+json"),  # 045_04_01
        ("application/json;q=0, application/ld+json", "application/ld+json"),  # 045_04_02
        ("*/*;q=0.9, application/ld+json;q=0.8", "application/json"),  # 045_04_03
        ("application/ld+json;q=notanumber", "application/ld+json"),  # 045_04_04
        ("*/*", "application/json"),  # 045_01_01
        ("application/*;q=0.5, application/geo+json", "application/geo+json"),
    ],
)
def test_accept_follows_the_spec_list_and_rfc_9110(ngsi: Ngsi, accept: str, expected: str) -> None:
    """CommonBehaviours 045_01, 045_02, 045_04 (VerifyAcceptPrecedence), clause 6.3.4."""
    ngsi.create(thing())
    assert content_type(ngsi, f"/entities/{ID}", accept) == expected


def test_accept_where_geojson_is_not_offered(ngsi: Ngsi) -> None:
    """CommonBehaviours 045_03 and 049_02_01: geo+json is not on offer for subscriptions."""
    assert content_type(ngsi, "/subscriptions", "application/geo+json, application/json") == (
        "application/json"
    )
    assert content_type(
        ngsi, "/subscriptions", "application/geo+json;q=0.9, application/ld+json;q=0.1"
    ) == "application/ld+json"  # fmt: skip
    assert content_type(ngsi, "/subscriptions", "*/*") == "application/json"
    r = ngsi.call("GET", "/subscriptions", Accept="application/geo+json")
    assert r.status_code == 406
    r = ngsi.call("GET", f"/entities/{ID}", Accept="application/xml")  # 049_01
    assert r.status_code == 406


def _chunks() -> Iterator[bytes]:
    yield json.dumps({"id": "urn:ngsi-ld:Building:411-01", "type": "Building"}).encode()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/entities"),
        ("PATCH", "/entities/urn:ngsi-ld:Building:411-01/attrs/"),
        ("PUT", "/entities/urn:ngsi-ld:Building:411-01"),
    ],
)
def test_a_body_without_content_length_is_a_bare_411(ngsi: Ngsi, method: str, path: str) -> None:
    """CommonBehaviours 046_01_01-03 and 046_01_05 (VerifyLengthRequired): no payload body,
    decided before the tenant (an unknown one here) or the caller is looked at."""
    unknown = {**ngsi.headers(), "NGSILD-Tenant": "tp46105nosuchtenant"}
    for headers in (unknown, {"Content-Type": "application/json"}):
        r = ngsi.http.request(method, BASE + path, content=_chunks(), headers=headers)
        assert r.status_code == 411 and r.content == b""
    r = ngsi.call("GET", "/entities?type=Building")  # 046_01_04: GET is outside the rule
    assert r.status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/entities", {"id": "urn:ngsi-ld:Building:9", "type": "Building"}),  # 059_01_01
        ("GET", "/entities?type=Building&", None),  # 059_01_02
        ("POST", "/temporal/entities", {"id": "urn:ngsi-ld:Building:9", "type": "Building"}),
        ("GET", "/temporal/entities?type=Building&", None),  # 059_01_04
        ("GET", "/types", None),  # 059_01_05
        ("GET", "/subscriptions", None),  # 059_01_07
    ],
)
def test_an_undefined_query_parameter_is_invalid_request(
    ngsi: Ngsi, method: str, path: str, body: object
) -> None:
    """CommonBehaviours 059_01 (VerifyInvalidParameters): 400 InvalidRequest, nothing written."""
    sep = "" if path.endswith("&") else "?"
    r = ngsi.call(method, f"{path}{sep}invalidParams=invalidValue", body)
    problem(r, 400, "InvalidRequest")
    assert problem(ngsi.get("urn:ngsi-ld:Building:9"), 404)["type"] == ERRORS + "ResourceNotFound"


def test_known_parameters_still_work(ngsi: Ngsi) -> None:
    """The other side of 059_01: every parameter the routes take is accepted."""
    ngsi.create(thing())
    r = ngsi.call("GET", "/entities?type=Thing&options=keyValues&count=true&limit=5&offset=0")
    assert r.status_code == 200 and r.headers["ngsild-results-count"] == "1"
    r = ngsi.call("GET", f"/entities/{ID}?attrs=speed&lang=en&format=normalized")
    assert r.status_code == 200
    assert ngsi.call("GET", "/types?details=true").status_code == 200


def test_nonexistent_tenant_is_echoed(ngsi: Ngsi) -> None:
    """CommonBehaviours 5510_01_01 (Tenancy): 404 NonexistentTenant with NGSILD-Tenant echoed;
    a create makes the tenant; the same query then answers 200. (Charter binds tenants to the
    token, docs/ngsi-ld.md: the token here lists the tenant.)"""
    t = token(ngsi.platform, Role.OPERATOR, tenants=["tp551001"])
    r = ngsi.call("GET", "/entities?type=Building", token=t, NGSILD_Tenant="tp551001")
    problem(r, 404, "NonexistentTenant")
    assert r.headers["ngsild-tenant"] == "tp551001"
    body = {"id": "urn:ngsi-ld:Vehicle:5510", "type": "Building"}
    r = ngsi.create(body, token=t, NGSILD_Tenant="tp551001")
    assert r.status_code == 201 and r.headers["ngsild-tenant"] == "tp551001"
    r = ngsi.call("GET", "/entities?type=Building", token=t, NGSILD_Tenant="tp551001")
    assert r.status_code == 200 and [e["id"] for e in r.json()] == ["urn:ngsi-ld:Vehicle:5510"]
    assert ngsi.call("GET", "/entities?type=Building").status_code == 200  # 5510_01_02


def test_type_wildcard_selects_every_type(ngsi: Ngsi) -> None:
    """Consumption 019_26 (QueryEntities, type=*): every type; with local=false BadRequestData."""
    ngsi.create(thing())
    vehicle = {"id": "urn:ngsi-ld:Vehicle:1", "type": "Vehicle",
               "brandName": {"type": "Property", "value": "Mercedes"}}  # fmt: skip
    assert ngsi.create(vehicle).status_code == 201
    r = ngsi.call("GET", "/entities?type=*")
    assert r.status_code == 200
    assert sorted(e["id"] for e in r.json()) == [ID, "urn:ngsi-ld:Vehicle:1"]
    problem(ngsi.call("GET", "/entities?type=*&local=false"), 400, "BadRequestData")
    problem(ngsi.call("GET", "/entities?type=Thing&local=false"), 422, "OperationNotSupported")


@pytest.mark.parametrize(
    "query", ["", "?attrs=createdAt", "?attrs=createdAt,modifiedAt", "?limit=5"]
)
def test_a_query_without_any_selection_is_too_wide(ngsi: Ngsi, query: str) -> None:
    """Consumption 5722_01_01 and clause 5.7.2.4: no type, id, idPattern, attrs (other than
    system ones), q or geo-query is BadRequestData."""
    ngsi.create(thing())
    problem(ngsi.call("GET", f"/entities{query}"), 400, "BadRequestData")
    for narrowed in ("?attrs=speed", f"?id={ID}", "?idPattern=.*", "?q=speed==5"):
        r = ngsi.call("GET", f"/entities{narrowed}")
        assert r.status_code == 200 and [e["id"] for e in r.json()] == [ID], narrowed


@pytest.mark.parametrize(
    ("method", "body"), [("GET", None), ("PATCH", {"q": "speed>1"}), ("DELETE", None)]
)
def test_a_subscription_id_that_is_not_a_uri_is_bad_request_data(
    ngsi: Ngsi, method: str, body: object
) -> None:
    """Subscription 030_01 (RetrieveSubscription, InvalidUri): BadRequestData, not 404; the same
    for update and delete."""
    problem(ngsi.call(method, "/subscriptions/InvalidUri", body), 400, "BadRequestData")
    missing = "/subscriptions/urn:ngsi-ld:Subscription:404"
    problem(ngsi.call(method, missing, body), 404, "ResourceNotFound")


@pytest.fixture
def sub_ngsi(tmp_path: Path, clock: FixedClock) -> Iterator[Ngsi]:
    settings = Settings(data_dir=tmp_path / "data", ngsild_notify_hosts=["127.0.0.1:9"])
    p = build(settings, clock=clock)
    yield Ngsi(p, token(p))
    extras_for(p).close()
    p.close()


def _sub_link(limit: int, offset: int, rel: str) -> str:
    path = f"/ngsi-ld/v1/subscriptions?limit={limit}&offset={offset}"
    return f'<{path}>;rel="{rel}";type="application/ld+json"'


@pytest.mark.parametrize(
    ("limit", "offset", "shown", "links"),
    [
        (1, 1, 1, [_sub_link(1, 0, "prev"), _sub_link(1, 2, "next")]),  # 031_02_01
        (1, 2, 1, [_sub_link(1, 1, "prev")]),  # 031_02_02
        (15, 0, 3, []),  # 031_02_03
    ],
)
def test_subscription_pages_carry_prev_and_next_links(
    sub_ngsi: Ngsi, limit: int, offset: int, shown: int, links: list[str]
) -> None:
    """Subscription 031_02 (QuerySubscriptions, pagination, clause 5.5.9): Link rel prev/next."""
    for i in range(3):
        body = {"id": f"urn:ngsi-ld:Subscription:{i}", "type": "Subscription",
                "entities": [{"type": "Room"}],
                "notification": {"endpoint": {"uri": "http://127.0.0.1:9/n"}}}  # fmt: skip
        assert sub_ngsi.call("POST", "/subscriptions", body).status_code == 201
    r = sub_ngsi.call(
        "GET", f"/subscriptions?limit={limit}&offset={offset}", Accept="application/ld+json"
    )
    assert r.status_code == 200 and len(r.json()) == shown
    got = r.headers.get("link", "")
    assert sorted(got.replace(" ", "").split(",") if got else []) == sorted(links)
    r = sub_ngsi.call("GET", f"/subscriptions?limit={limit}&offset={offset}")  # JSON: + @context
    assert r.headers["link"].count('rel="http://www.w3.org/ns/json-ld#context"') == 1


@pytest.mark.parametrize("count", ["", "&count=true"])
def test_entity_pages_carry_prev_and_next_links(ngsi: Ngsi, count: str) -> None:
    """Consumption 019_31 (QueryEntities pagination, clause 4.12 / 5.5.9): next on the first
    page, both in the middle, prev only on the last, none with limit=0; with or without count.
    (The link's format is Charter's: limit and offset first, the request's other parameters
    after them, as for subscriptions in 031_02.)"""
    for i in range(1, 4):
        ngsi.create(thing(i))

    def links(limit: int, offset: int) -> dict[str, str]:
        r = ngsi.call("GET", f"/entities?type=Thing&limit={limit}&offset={offset}{count}")
        assert r.status_code == 200
        out = {}
        for part in r.headers["link"].split(", ")[1:]:  # the @context comes first
            target, rel = part.split(";")[0], part.split('rel="')[1].split('"')[0]
            out[rel] = target
        return out

    first = f"&type=Thing{count}"
    assert links(1, 0) == {"next": f"</ngsi-ld/v1/entities?limit=1&offset=1{first}>"}
    assert links(1, 1) == {
        "prev": f"</ngsi-ld/v1/entities?limit=1&offset=0{first}>",
        "next": f"</ngsi-ld/v1/entities?limit=1&offset=2{first}>",
    }
    assert links(1, 2) == {"prev": f"</ngsi-ld/v1/entities?limit=1&offset=1{first}>"}
    assert links(2, 0) == {"next": f"</ngsi-ld/v1/entities?limit=2&offset=2{first}>"}
    assert links(5, 0) == {}
    if count:
        r = ngsi.call("GET", "/entities?type=Thing&limit=0&count=true")
        assert r.json() == [] and r.headers["ngsild-results-count"] == "3"
        assert r.headers["link"].count("rel=") == 1


@pytest.mark.parametrize(
    "path",
    [
        "/types/Thing?details=true",  # 577_01_02
        "/attributes?limit=5",  # 5710_01_03
        "/attributes/speed?details=true",  # 5710_01_03
        "/types?limit=5",
    ],
)
def test_discovery_routes_take_only_their_parameters(ngsi: Ngsi, path: str) -> None:
    """Discovery 577_01_02 and 5710_01_03 (6.3.20): a parameter the route does not define is
    InvalidRequest; the ones it does are served."""
    ngsi.create(thing())
    problem(ngsi.call("GET", path), 400, "InvalidRequest")
    for ok in (
        "/types?details=true",
        "/types/Thing",
        "/attributes?details=true",
        "/attributes/speed",
    ):
        assert ngsi.call("GET", ok).status_code == 200, ok


def test_discovery_unknown_names_and_entity_members(ngsi: Ngsi) -> None:
    """Discovery 577_01_01 and 5710_01_01/02: an unused type or attribute is ResourceNotFound;
    id, type, createdAt and modifiedAt are not attributes."""
    ngsi.create(thing())
    problem(ngsi.call("GET", "/types/NoSuchType12345"), 404, "ResourceNotFound")
    problem(ngsi.call("GET", "/attributes/noSuchAttribute12345"), 404, "ResourceNotFound")
    names = ngsi.call("GET", "/attributes").json()["attributeList"]
    for member in ("id", "type", "scope", "createdAt", "modifiedAt", "deletedAt"):
        assert member not in names
        problem(ngsi.call("GET", f"/attributes/{member}"), 404, "ResourceNotFound")


def test_delete_with_a_type_selector_deletes_only_that_type(ngsi: Ngsi) -> None:
    """Provision/Entities/DeleteEntity 566_01 (5.6.6.4): `DELETE /entities/{id}?type=` of
    another type is ResourceNotFound and the entity stays; its own type deletes it."""
    assert ngsi.create(thing()).status_code == 201
    problem(ngsi.call("DELETE", f"/entities/{ID}?type=Vehicle"), 404, "ResourceNotFound")
    assert ngsi.get(ID).status_code == 200
    r = ngsi.call("DELETE", f"/entities/{ID}?type=Vehicle,Thing")
    assert r.status_code == 204, r.text
    assert ngsi.get(ID).status_code == 404


def test_delete_attribute_with_a_type_selector_and_the_scope(ngsi: Ngsi) -> None:
    """DeleteEntityAttribute 565_01 and 013_04 (5.6.5.4): `?type=` of another type is
    ResourceNotFound with the attribute kept; `DELETE .../attrs/scope` removes the scope."""
    assert ngsi.create(thing(scope="/Madrid")).status_code == 201
    problem(ngsi.call("DELETE", f"/entities/{ID}/attrs/speed?type=Vehicle"), 404,
            "ResourceNotFound")  # fmt: skip
    assert ngsi.get(ID).json()["speed"]["value"] == 5
    assert ngsi.call("DELETE", f"/entities/{ID}/attrs/speed?type=Thing").status_code == 204
    r = ngsi.call("DELETE", f"/entities/{ID}/attrs/scope")
    assert r.status_code == 204, r.text
    got = ngsi.get(ID).json()
    assert "scope" not in got and "speed" not in got and got["near"]["object"]
    problem(ngsi.call("DELETE", f"/entities/{ID}/attrs/scope"), 404, "ResourceNotFound")


@pytest.mark.parametrize("method", ["DELETE", "PATCH", "POST"])
def test_an_empty_entity_id_in_the_path_is_bad_request_data(ngsi: Ngsi, method: str) -> None:
    """DeleteEntityAttribute 013_02_01: `/entities//attrs/speed` is 400, not 404."""
    body = {"speed": {"type": "Property", "value": 1}} if method != "DELETE" else None
    problem(ngsi.call(method, "/entities//attrs/speed", body), 400, "BadRequestData")
    assert ngsi.call("DELETE", "/entities//attrs/speed", token="nope").status_code == 401


def test_discovery_by_an_expanded_name_in_the_path(ngsi: Ngsi) -> None:
    """Discovery 024_02_02 and 027_02_02: `/types/{type}` and `/attributes/{attr}` take the
    expanded IRI, percent-encoded (its '/' as %2F), as well as the short name."""
    assert ngsi.create(thing()).status_code == 201
    vocab = "https://uri.etsi.org/ngsi-ld/default-context/"
    for short, path in (("Thing", "/types/"), ("speed", "/attributes/")):
        by_name = ngsi.call("GET", path + short)
        assert by_name.status_code == 200, by_name.text
        encoded = (vocab + short).replace(":", "%3A").replace("/", "%2F")
        by_iri = ngsi.call("GET", path + encoded)
        assert by_iri.status_code == 200, (path, by_iri.text)
        assert by_iri.json() == by_name.json()
    for path in ("/types/", "/attributes/"):  # the lists, with a trailing slash (022_01)
        listed = ngsi.call("GET", path)
        assert listed.status_code == 200, listed.text
        plain = ngsi.call("GET", path[:-1]).json()
        assert {**listed.json(), "id": ""} == {**plain, "id": ""}  # a list's id is drawn
    problem(ngsi.call("GET", "/types/" + (vocab + "Nope").replace("/", "%2F")), 404,
            "ResourceNotFound")  # fmt: skip
    problem(ngsi.call("GET", "/types/" + (vocab + "Thing").replace("/", "%2F") + "?limit=1"),
            400, "InvalidRequest")  # fmt: skip


def test_attribute_details_list_has_names_and_types_only(ngsi: Ngsi) -> None:
    """Discovery 026_01 (5.7.9.4): `/attributes?details=true` lists each Attribute with id,
    type, attributeName and typeNames; attributeCount and attributeTypes are for 5.7.10."""
    assert ngsi.create(thing()).status_code == 201
    details = ngsi.call("GET", "/attributes?details=true").json()
    speed = next(d for d in details if d["attributeName"] == "speed")
    assert speed == {
        "id": "https://uri.etsi.org/ngsi-ld/default-context/speed",
        "type": "Attribute",
        "attributeName": "speed",
        "typeNames": ["Thing"],
    }
    assert ngsi.call("GET", "/attributes/speed").json()["attributeCount"] == 1


def test_batch_delete_takes_ld_json_ids_and_refuses_an_empty_batch(ngsi: Ngsi) -> None:
    """BatchEntities/DeleteBatchOfEntities 006_01, 006_02, 006_04 send the ids as
    application/ld+json (a list of strings has nowhere to carry an @context): 204, or 207
    for an unknown or repeated id; 006_03_02: an empty array is BadRequestData."""
    for n in (1, 2):
        assert ngsi.create(thing(n)).status_code == 201
    ld = {"Content_Type": "application/ld+json"}
    ids = ["urn:ngsi-ld:Thing:1", "urn:ngsi-ld:Thing:1", "urn:ngsi-ld:Thing:9"]
    r = ngsi.call("POST", "/entityOperations/delete", ids, **ld)
    assert r.status_code == 207, r.text
    assert r.json()["success"] == ["urn:ngsi-ld:Thing:1"] and len(r.json()["errors"]) == 2
    r = ngsi.call("POST", "/entityOperations/delete", ["urn:ngsi-ld:Thing:2"], **ld)
    assert r.status_code == 204, r.text
    assert ngsi.get("urn:ngsi-ld:Thing:2").status_code == 404
    for body, mime in (([], "application/ld+json"), ([], "application/json")):
        problem(ngsi.call("POST", "/entityOperations/delete", body, Content_Type=mime), 400,
                "BadRequestData")  # fmt: skip
    problem(ngsi.call("POST", "/entityOperations/create", []), 400, "BadRequestData")
    # objects in an ld+json body still need their @context
    problem(ngsi.call("POST", "/entityOperations/delete", [{"id": "urn:x:1"}], **ld), 400,
            "BadRequestData")  # fmt: skip
