"""JSON-LD @context, media types and bad input (clause 5.5.7, 6.3): the spec's errors, bounded."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from charter.bootstrap import Platform, build
from charter.domain.clock import FixedClock
from charter.ngsild.context import CORE_CONTEXT, LOCAL, Contexts
from charter.settings import Settings
from tests.ngsild.conftest import Ngsi, problem, thing, token

ID = "urn:ngsi-ld:Thing:1"
LINK = '<{}>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'


HUGE = {"@context": {f"t{i}": f"http://example.org/{i}" for i in range(40_000)}}


class Contexts_(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        port = self.server.server_address[1]
        docs = {
            "/speed.jsonld": {"@context": {"speed": "http://example.org/speed"}},
            "/loop.jsonld": {"@context": f"http://127.0.0.1:{port}/loop.jsonld"},
            "/huge.jsonld": {
                "@context": {f"t{i}": f"http://example.org/{i}" for i in range(40_000)}
            },
        }
        doc = docs.get(self.path)
        if doc is None:
            self.send_response(404)
            self.end_headers()
            return
        body = json.dumps(doc).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/ld+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        return None


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Contexts_)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def silent() -> Iterator[str]:
    """A host that accepts connections and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


@pytest.fixture
def remote(tmp_path: Path, clock: FixedClock) -> Iterator[Ngsi]:
    settings = Settings(
        data_dir=tmp_path / "data",
        ngsild_context_hosts=["127.0.0.1"],
        ngsild_context_timeout_s=2.0,
        ngsild_context_max_bytes=200_000,
    )
    p: Platform = build(settings, clock=clock)
    yield Ngsi(p, token(p))
    p.close()


def test_core_and_smart_data_models_contexts_are_served_offline() -> None:
    assert CORE_CONTEXT in LOCAL
    terms = Contexts().resolve(
        "https://raw.githubusercontent.com/smart-data-models/dataModel.Environment/master/context.jsonld"
    )
    assert terms.expand("AirQualityObserved") == (
        "https://smartdatamodels.org/dataModel.Environment/AirQualityObserved"
    )
    assert terms.expand("location") == "https://uri.etsi.org/ngsi-ld/location"


def test_an_inline_context_expands_and_compacts(ngsi: Ngsi) -> None:
    body = {**thing(), "@context": [{"speed": "http://example.org/speed"}, CORE_CONTEXT]}
    r = ngsi.create(body, Content_Type="application/ld+json")
    assert r.status_code == 201, r.text
    stored = ngsi.platform.ngsild.repo.get("", ID)
    assert stored is not None and "http://example.org/speed" in stored.attrs
    # read with the core context only: the full IRI
    assert "http://example.org/speed" in ngsi.get(ID).json()
    got = ngsi.get(ID, Accept="application/ld+json").json()
    assert got["@context"] == CORE_CONTEXT


def test_a_context_from_an_allowed_host_is_fetched(remote: Ngsi, server: str) -> None:
    r = remote.create(thing(), Link=LINK.format(server + "/speed.jsonld"))
    assert r.status_code == 201, r.text
    got = remote.get(ID, Link=LINK.format(server + "/speed.jsonld"))
    assert "speed" in got.json()
    assert got.headers["link"].startswith(f"<{server}/speed.jsonld>")


def test_an_unreachable_or_unlisted_context_is_ld_context_not_available(
    remote: Ngsi, server: str, silent: str
) -> None:
    problem(remote.create(thing(), Link=LINK.format(server + "/nope.jsonld")), 503,
            "LdContextNotAvailable")  # fmt: skip
    problem(remote.create(thing(), Link=LINK.format("https://example.org/ctx.jsonld")), 503,
            "LdContextNotAvailable")  # fmt: skip
    problem(remote.create(thing(), Link=LINK.format(silent + "/ctx.jsonld")), 504,
            "LdContextNotAvailable")  # fmt: skip
    assert remote.platform.ngsild.repo.get("", ID) is None


def test_looping_and_huge_contexts_are_refused(remote: Ngsi, server: str) -> None:
    problem(remote.create(thing(), Link=LINK.format(server + "/loop.jsonld")), 400,
            "BadRequestData")  # fmt: skip
    problem(remote.create(thing(), Link=LINK.format(server + "/huge.jsonld")), 400,
            "BadRequestData")  # fmt: skip


def test_context_rules_of_the_media_types(ngsi: Ngsi) -> None:
    ctx = {**thing(), "@context": CORE_CONTEXT}
    problem(ngsi.create(ctx), 400, "BadRequestData")  # json with @context in the body
    problem(ngsi.create(thing(), Content_Type="application/ld+json"), 400, "BadRequestData")
    r = ngsi.create(ctx, Content_Type="application/ld+json", Link=LINK.format(CORE_CONTEXT))
    problem(r, 400, "BadRequestData")
    problem(ngsi.create(thing(), Link=LINK.format("not a url")), 400, "BadRequestData")
    problem(ngsi.create({**thing(), "@context": 5}, Content_Type="application/ld+json"), 400,
            "BadRequestData")  # fmt: skip


def test_415_406_and_411(ngsi: Ngsi) -> None:
    assert problem(ngsi.create(thing(), Content_Type="text/plain"), 415)["type"] == "about:blank"
    ngsi.create(thing())
    problem(ngsi.get(ID, Accept="text/html"), 406)
    assert ngsi.get(ID, Accept="application/ld+json;q=0.9, text/html").status_code == 200

    def chunks() -> Iterator[bytes]:
        yield json.dumps(thing(2)).encode()

    r = ngsi.http.post("/ngsi-ld/v1/entities", content=chunks(), headers=ngsi.headers())
    assert r.status_code == 411 and r.content == b""  # bare (6.3.4)


@pytest.mark.parametrize(
    "change",
    [
        {"id": "no-scheme"},
        {"id": "urn:ngsi-ld:Thing:has space"},
        {"type": "@id"},
        {"observedAt": {"type": "Property", "value": 1}},  # a reserved core term
        {"createdAt2=": 1},  # a forbidden character
        {"speed": {"type": "Property", "value": None}},
        {"speed": {"type": "Unknown", "value": 1}},
        {"near": {"type": "Relationship", "object": "not a uri"}},
        {"speed": {"type": "Property", "value": 1, "observedAt": "yesterday"}},
        {"speed": {"type": "Property", "value": 1, "datasetId": "no uri"}},
        {"location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [200, 0]}}},
        {
            "location": {
                "type": "GeoProperty",
                "value": {
                    "type": "Polygon",
                    "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]],
                },
            }
        },
        {"location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": "x"}}},
        {
            "location": {
                "type": "GeoProperty",
                "value": {"type": "LineString", "coordinates": [[0.0, 0.0]] * 20_000},
            }
        },
        {"name": {"type": "LanguageProperty", "languageMap": {"en": 5}}},
    ],
)
def test_bad_entities_are_bad_request_data(ngsi: Ngsi, change: dict[str, object]) -> None:
    problem(ngsi.create({**thing(), **change}), 400, "BadRequestData")
    assert ngsi.platform.ngsild.repo.count("") == 0


def test_malformed_json_is_invalid_request(ngsi: Ngsi) -> None:
    r = ngsi.http.post("/ngsi-ld/v1/entities", content=b'{"id": ', headers=ngsi.headers())
    problem(r, 400, "InvalidRequest")
    deep = b"[" * 5000 + b"]" * 5000
    r = ngsi.http.post("/ngsi-ld/v1/entities", content=deep, headers=ngsi.headers())
    assert r.status_code == 400


@pytest.mark.parametrize(
    "url",
    [
        "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld",
        "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.3.jsonld",
        "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.6.jsonld",
        "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.7.jsonld",
    ],
)
def test_an_earlier_core_context_url_is_the_cached_core(ngsi: Ngsi, url: str) -> None:
    # the ETSI suite's data names v1.6; nothing may be fetched (no host is allowed here)
    def no_fetch(_url: str, _t: float, _m: int) -> None:
        raise AssertionError(f"fetched {_url}")

    contexts = Contexts(fetch=no_fetch)
    assert contexts.resolve(url).source == ()
    terms = contexts.resolve([{"speed": "http://example.org/speed"}, url])
    assert terms.source == ({"speed": "http://example.org/speed"},)
    assert terms.expand("location") == "https://uri.etsi.org/ngsi-ld/location"
    body = {**thing(), "@context": [{"speed": "http://example.org/speed"}, url]}
    r = ngsi.create(body, Content_Type="application/ld+json")
    assert r.status_code == 201, r.text
    got = ngsi.get(ID, Link=LINK.format(url), Accept="application/ld+json").json()
    assert got["@context"] == CORE_CONTEXT
    assert "http://example.org/speed" in got
