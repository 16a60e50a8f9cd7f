"""Discovery (/types, /attributes) and @context management (/jsonldContexts)."""

from __future__ import annotations

from typing import Any

from tests.ngsild.conftest import ERRORS, Ngsi, problem, token

V = "https://uri.etsi.org/ngsi-ld/default-context/"


def seed(ngsi: Ngsi) -> None:
    entities: list[dict[str, Any]] = [
        {"id": "urn:ngsi-ld:Building:1", "type": "Building",
         "height": {"type": "Property", "value": 20},
         "owner": {"type": "Relationship", "object": "urn:ngsi-ld:Person:1"}},
        {"id": "urn:ngsi-ld:Building:2", "type": "Building",
         "height": {"type": "Property", "value": 30}},
        {"id": "urn:ngsi-ld:Park:1", "type": "Park",
         "name": {"type": "LanguageProperty", "languageMap": {"en": "Park"}},
         "location": {"type": "GeoProperty",
                      "value": {"type": "Point", "coordinates": [8.69, 49.41]}}},
    ]  # fmt: skip
    for e in entities:
        assert ngsi.create(e).status_code == 201


def test_types(any_ngsi: Ngsi) -> None:
    seed(any_ngsi)
    listed = any_ngsi.call("GET", "/types").json()
    assert listed["type"] == "EntityTypeList"
    assert listed["typeList"] == ["Building", "Park"]
    details = any_ngsi.call("GET", "/types?details=true").json()
    assert details[0] == {
        "id": V + "Building",
        "type": "EntityType",
        "typeName": "Building",
        "attributeNames": ["height", "owner"],
    }
    info = any_ngsi.call("GET", "/types/Building").json()
    assert info["type"] == "EntityTypeInfo" and info["entityCount"] == 2
    assert {a["attributeName"]: a["attributeTypes"] for a in info["attributeDetails"]} == {
        "height": ["Property"],
        "owner": ["Relationship"],
    }
    assert problem(any_ngsi.call("GET", "/types/Nothing"), 404)["type"] == (
        ERRORS + "ResourceNotFound"
    )


def test_attributes(any_ngsi: Ngsi) -> None:
    seed(any_ngsi)
    listed = any_ngsi.call("GET", "/attributes").json()
    assert listed["type"] == "AttributeList"
    assert listed["attributeList"] == ["height", "location", "name", "owner"]
    height = any_ngsi.call("GET", "/attributes/height").json()
    assert height == {
        "id": V + "height",
        "type": "Attribute",
        "attributeName": "height",
        "attributeCount": 2,
        "attributeTypes": ["Property"],
        "typeNames": ["Building"],
    }
    details = any_ngsi.call("GET", "/attributes?details=true").json()
    assert [d["attributeName"] for d in details] == ["height", "location", "name", "owner"]
    assert problem(any_ngsi.call("GET", "/attributes/nope"), 404)["type"] == (
        ERRORS + "ResourceNotFound"
    )


def test_hosted_contexts(ngsi: Ngsi) -> None:
    ctx = {"@context": {"height": "https://example.org/vocab#height"}}
    created = ngsi.call("POST", "/jsonldContexts", ctx)
    assert created.status_code == 201, created.text
    location = created.headers["Location"]
    cid = location.rsplit("/", 1)[-1]
    served = ngsi.http.get(location)  # served without a token, like any context URL
    assert served.status_code == 200
    assert served.json() == ctx
    assert served.headers["content-type"].startswith("application/ld+json")

    # a request may name the hosted context in its Link header
    url = "http://127.0.0.1" + location
    link = f'<{url}>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'
    body = {"id": "urn:ngsi-ld:Building:9", "type": "Building",
            "height": {"type": "Property", "value": 5}}  # fmt: skip
    assert ngsi.call("POST", "/entities", body, Link=link).status_code == 201
    stored = ngsi.platform.ngsild.repo.get("", "urn:ngsi-ld:Building:9")
    assert stored is not None and "https://example.org/vocab#height" in stored.attrs

    listed = ngsi.call("GET", "/jsonldContexts?details=true").json()
    hosted = [c for c in listed if c["kind"] == "Hosted"]
    assert hosted[0]["localId"] == cid and hosted[0]["numberOfHits"] >= 1
    assert any(c["kind"] == "Cached" for c in listed)
    assert url.endswith(cid) and any(
        u.endswith(cid) for u in ngsi.call("GET", "/jsonldContexts").json()
    )

    resident = token(ngsi.platform, __import__("charter.auth").auth.Role.RESIDENT)
    assert ngsi.call("DELETE", f"/jsonldContexts/{cid}", token=resident).status_code == 403
    assert ngsi.call("DELETE", f"/jsonldContexts/{cid}").status_code == 204
    assert problem(ngsi.http.get(location), 404)["type"] == ERRORS + "ResourceNotFound"


def test_bad_hosted_contexts(ngsi: Ngsi) -> None:
    for body in ({"no": "context"}, {"@context": 3}, {"@context": {"t": {"@id": 5}}}):
        resp = ngsi.call("POST", "/jsonldContexts", body)
        assert problem(resp, 400)["type"] == ERRORS + "BadRequestData", body
    huge = {"@context": {f"t{i}": f"https://example.org/{'x' * 200}/{i}" for i in range(2000)}}
    assert ngsi.call("POST", "/jsonldContexts", huge).status_code == 413  # the API body limit
    assert [
        c for c in ngsi.call("GET", "/jsonldContexts?details=true").json() if c["kind"] == "Hosted"
    ] == []


VOCAB = "https://example.org/vocab#"


def _query(ngsi: Ngsi, context: Any, token_: str | None = None) -> Any:
    body = {"type": "Query", "entities": [{"type": "Building"}], "@context": context}
    return ngsi.call(
        "POST", "/entityOperations/query", body, token=token_, Content_Type="application/ld+json"
    )


def _linked(resp: Any) -> str:
    assert resp.status_code == 200, resp.text
    link: str = resp.headers["Link"]
    return link[1 : link.index(">")]


def test_an_inline_context_is_hosted_as_implicitly_created(ngsi: Ngsi) -> None:
    seed(ngsi)
    inline = [
        {"height": VOCAB + "height"},
        "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld",
    ]
    first = _query(ngsi, inline)
    url = _linked(first)
    assert "/ngsi-ld/v1/jsonldContexts/implicit-" in url
    served = ngsi.http.get(url)  # the reply's context, served without a token
    assert served.status_code == 200 and served.json() == {"@context": [inline[0]]}
    # the same context again (another caller, the same request) is the same hosted context
    other = token(ngsi.platform, __import__("charter.auth").auth.Role.AUDITOR)
    assert _linked(_query(ngsi, inline, other)) == url
    listed = ngsi.call("GET", "/jsonldContexts?details=true&kind=ImplicitlyCreated").json()
    assert [c["url"] for c in listed] == [url] and listed[0]["kind"] == "ImplicitlyCreated"
    assert all(c["kind"] != "Hosted" for c in listed)
    # a client may send the link back: Charter resolves it from its own store
    back = url.replace("http://testserver", "http://127.0.0.1")
    link = f'<{back}>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'
    body = {"id": "urn:ngsi-ld:Building:9", "type": "Building",
            "height": {"type": "Property", "value": 5}, "@context": inline}  # fmt: skip
    assert ngsi.create(body, Content_Type="application/ld+json").status_code == 201
    got = ngsi.get("urn:ngsi-ld:Building:9", "?options=keyValues", Link=link).json()
    assert got["height"] == 5  # compacted with the hosted context
    # one URL is linked as it is; nothing new is kept
    one = _query(ngsi, "https://smartdatamodels.org/context.jsonld")
    assert _linked(one) == "https://smartdatamodels.org/context.jsonld"
    assert len(ngsi.call("GET", "/jsonldContexts?kind=ImplicitlyCreated").json()) == 1


def test_anonymous_calls_and_the_bound_keep_nothing(ngsi: Ngsi, monkeypatch: Any) -> None:
    from charter.ngsild import discovery

    seed(ngsi)
    core = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"
    anonymous = _query(ngsi, [{"height": VOCAB + "h0"}], "")
    assert _linked(anonymous) == core  # the public: the core context, nothing hosted
    assert ngsi.call("GET", "/jsonldContexts?kind=ImplicitlyCreated").json() == []
    monkeypatch.setattr(discovery, "MAX_IMPLICIT", 2)
    urls = [_linked(_query(ngsi, [{"height": VOCAB + f"h{i}"}])) for i in range(4)]
    assert urls[0] != urls[1] and "implicit-" in urls[1]
    assert urls[2:] == [core, core]  # past the bound, as before: the core context
    assert len(ngsi.call("GET", "/jsonldContexts?kind=ImplicitlyCreated").json()) == 2
    assert _linked(_query(ngsi, [{"height": VOCAB + "h0"}])) == urls[0]  # still served
    # hosted contexts have their own bound, not eaten by the implicit ones
    assert ngsi.call("POST", "/jsonldContexts", {"@context": {"a": VOCAB + "a"}}).status_code == 201
