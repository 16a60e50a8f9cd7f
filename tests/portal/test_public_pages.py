"""The public portal pages, populated from the demo city, in English and Japanese."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from charter.api.app import create_app
from charter.bootstrap import Platform, build
from charter.domain.clock import FixedClock
from charter.domain.model import DeviceStatus
from charter.settings import Settings
from charter.sim import city as sample
from charter.sim.demo import seed_city
from tests.conftest import START

FLOOD = sample.FLOOD
AIR = sample.AIR


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """The demo city as `charter demo` seeds it (fewer devices), read-only for these tests."""
    p = build(Settings(data_dir=tmp_path_factory.mktemp("demo")), clock=FixedClock(START))
    seed_city(p, 60)
    yield p
    p.close()


@pytest.fixture(scope="module")
def web(demo: Platform) -> Iterator[TestClient]:
    with TestClient(create_app(demo)) as c:
        yield c


def a_device(p: Platform, status: DeviceStatus = DeviceStatus.ACTIVE) -> str:
    return next(d.id for d in p.store.list_devices() if d.status is status)


PAGES = [
    ("/", ["sensors on the register", "Sensor map"]),
    (
        "/map",
        ["<svg", 'class="street major"', "/city/sensors/urn:ngsi-ld:Device:", "OpenStreetMap"],
    ),
    ("/city/projects", ["Clean air", "Flood"]),
    (f"/city/projects/{AIR}", ["Purpose", "Benefits", "Data practices", "project.created"]),
    ("/city/algorithms", ["Algorithm register", "Adaptive signal timing", "/city/algorithms/"]),
    (
        "/city/algorithms/adaptive-signals",
        ["How it decides", "Human oversight", "Risks and how they are mitigated", "traffic.count"],
    ),
    (f"/city/projects/{sample.TRAFFIC}", ["/city/algorithms/accessible-crossing"]),
    ("/city/consultations", ["Open for comments"]),
    (
        f"/city/consultations/{FLOOD}",
        ["Have your say", "How residents are warned", "text messages"],
    ),
    ("/city/transparency", ["Readings admitted, by project", "<svg", "Consultations"]),
    (f"/city/transparency?project={AIR}", ["Transparency report"]),
    ("/city/downloads", ["/register/devices.geojson", "/register/projects.csv"]),
    ("/city/ledger", ["The current signed checkpoint", "\u2014 ", "Root hash"]),
    ("/city/ledger/entries", ["device.registered", "verify entry"]),
    ("/city/ledger/verify?index=3", ['id="verifier"', 'data-index="3"', "/static/verify.js"]),
    ("/signin", ["Access token", 'name="csrf"']),
]


@pytest.mark.parametrize(("url", "expected"), PAGES, ids=[u for u, _ in PAGES])
def test_every_public_page_renders_the_demo_city(
    web: TestClient, url: str, expected: list[str]
) -> None:
    r = web.get(url)
    assert r.status_code == 200, r.text[:500]
    assert r.headers["content-type"].startswith("text/html")
    for text in expected:
        assert text in r.text, text


@pytest.mark.parametrize("url", [u for u, _ in PAGES])
def test_pages_carry_a_strict_csp_and_no_inline_script_or_style(web: TestClient, url: str) -> None:
    r = web.get(url)
    csp = r.headers["content-security-policy"]
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "script-src 'self'" in csp and "style-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    # Every script is a file of Charter's own; no inline script, handler or style attribute.
    assert not re.search(r"<script(?![^>]*\bsrc=\"/static/)", r.text)
    assert not re.search(r"\son[a-z]+=\"", r.text)
    assert " style=" not in r.text and "<style" not in r.text
    assert "http://" not in re.sub(r'href="https?://[^"]+"', "", r.text)  # no other origin loaded


def test_the_sensor_card_says_what_why_who_how_long_and_who_sees(
    web: TestClient, demo: Platform
) -> None:
    device = demo.store.get_device(a_device(demo))
    assert device is not None
    project = demo.store.get_project(device.project_id)
    assert project is not None
    r = web.get(f"/city/sensors/{device.id}")
    assert r.status_code == 200
    page = r.text
    cat = next(c for c in project.categories if c.name in device.categories)
    for expected in (
        "Why it is here",
        "Who is accountable",
        project.accountable_organisation,
        "How long it is kept",
        f"{cat.retention_days} days",
        "Who can see it",
        "Personal data",
        cat.name,
    ):
        assert expected in page, expected
    # Icons have text alternatives.
    assert 'role="img" aria-label="Retention"' in page


def test_the_map_filters_by_project_category_and_status(web: TestClient, demo: Platform) -> None:
    everything = web.get("/map").text
    total = len(demo.store.list_devices())
    assert f"{total} of {total} sensors shown" in everything
    air = [d for d in demo.store.list_devices() if d.project_id == AIR]
    r = web.get("/map", params={"project": AIR})
    assert f"{len(air)} of {total} sensors shown" in r.text
    suspended = a_device(demo, DeviceStatus.SUSPENDED)
    r = web.get("/map", params={"status": "suspended"})
    assert suspended in r.text
    assert a_device(demo) not in r.text.split('<div class="map-wrap">')[1]
    cat = air[0].categories[0]
    r = web.get("/map", params={"category": cat})
    n = sum(1 for d in demo.store.list_devices() if cat in d.categories)
    assert f"{n} of {total} sensors shown" in r.text


def test_every_demo_sensor_stands_on_the_street_map(demo: Platform) -> None:
    from charter.portal import streets

    lon0, lat0, lon1, lat1 = streets.load().bbox
    for d in demo.store.list_devices():
        assert d.location is not None
        assert lon0 <= d.location.lon <= lon1 and lat0 <= d.location.lat <= lat1


def test_the_project_page_shows_its_history_from_the_ledger(web: TestClient) -> None:
    page = web.get(f"/city/projects/{AIR}").text
    assert "History, from the public ledger" in page
    assert "/city/ledger/verify?index=" in page
    assert "live" in page and "project.amendment" in page


def test_register_downloads_linked_from_the_portal_work(web: TestClient) -> None:
    page = web.get("/city/downloads").text
    links = set(re.findall(r'href="(/register/[^"]+)"', page))
    assert len(links) >= 6
    for link in links:
        assert web.get(link).status_code == 200, link


# --- languages ---------------------------------------------------------------------------


def test_accept_language_chooses_japanese(web: TestClient) -> None:
    r = web.get("/map", headers={"accept-language": "ja-JP,ja;q=0.9,en;q=0.5"})
    assert '<html lang="ja">' in r.text
    assert "センサー地図" in r.text
    r = web.get("/map", headers={"accept-language": "fr, en;q=0.1"})
    assert '<html lang="en">' in r.text


def test_the_language_switch_is_remembered(demo: Platform) -> None:
    with TestClient(create_app(demo)) as c:
        r = c.get("/lang/ja", params={"next": "/city/projects"}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/city/projects"
        assert "charter_lang=ja" in r.headers["set-cookie"]
        assert "プロジェクト" in c.get("/city/projects").text
        c.get("/lang/en")
        assert '<html lang="en">' in c.get("/city/projects").text
        # ?lang= works for one page too, and numbers and dates follow the language.
        assert '<html lang="ja">' in c.get("/city/ledger?lang=ja").text


def test_the_language_switch_is_no_open_redirect(demo: Platform) -> None:
    with TestClient(create_app(demo)) as c:
        for target in ("//evil.example", "https://evil.example/", "/\\evil.example"):
            r = c.get("/lang/en", params={"next": target}, follow_redirects=False)
            assert r.headers["location"] == "/"


def test_dates_and_numbers_follow_the_locale(web: TestClient) -> None:
    en = web.get("/city/ledger", headers={"accept-language": "en"}).text
    ja = web.get("/city/ledger", headers={"accept-language": "ja"}).text
    assert "Nov 29, 2026" in en and "2026/11/29" in ja
    from charter.portal import i18n

    with i18n.using("ja"):
        assert i18n.format_date(0, "long") == "1970年1月1日"
    with i18n.using("en"):
        assert i18n.format_number(1234567.5) == "1,234,567.5"


# --- error pages -------------------------------------------------------------------------


def test_an_unknown_sensor_gets_the_translated_404_page(web: TestClient) -> None:
    r = web.get("/city/sensors/urn:ngsi-ld:Device:nobody")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("text/html")
    assert "NOT_FOUND" in r.text and "No such resource." in r.text
    assert "content-security-policy" in r.headers
    r = web.get("/city/sensors/urn:ngsi-ld:Device:nobody", headers={"accept-language": "ja"})
    assert "ページが見つかりませんでした" in r.text and "該当するものがありません。" in r.text


def test_a_browser_asking_for_a_missing_page_gets_html_an_api_client_json(web: TestClient) -> None:
    r = web.get("/no-such-page", headers={"accept": "text/html"})
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    r = web.get("/no-such-page")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")


def test_a_bad_query_gets_the_422_page(web: TestClient) -> None:
    r = web.get("/map", params={"page": "many"})
    assert r.status_code == 422
    assert "VALIDATION_FAILED" in r.text and "<html" in r.text


def test_a_failure_gets_the_500_page_never_a_trace(
    demo: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_a: object, **_k: object) -> None:
        raise RuntimeError("secret internals /etc/passwd")

    with TestClient(create_app(demo), raise_server_exceptions=False) as c:
        monkeypatch.setattr(demo.store, "list_vendors", broken)
        monkeypatch.setattr(demo.store, "read_register_version", lambda: -1)
        r = c.get("/map")
    assert r.status_code == 500
    assert "Something went wrong on our side" in r.text
    assert "Traceback" not in r.text and "secret internals" not in r.text


def test_every_reason_code_has_a_japanese_sentence() -> None:
    from charter.domain.reasons import SENTENCES, Reason
    from charter.portal import i18n

    with i18n.using("ja"):
        for reason in Reason:
            ja = i18n.reason_sentence(reason)
            assert ja and ja != SENTENCES[reason], reason


def test_the_catalogues_are_complete_and_compiled() -> None:
    """Every message of the templates and code is in the catalogues, translated, and the
    committed .mo files are the compiled .po files (`python -m charter.portal.catalog`)."""
    from charter.portal import catalog

    template = catalog.extract()
    for lang in ("en", "ja"):
        current = catalog.read(lang)
        missing = [m.id for m in template if m.id and m.id not in current]
        assert not missing, f"{lang}: run python -m charter.portal.catalog: {missing[:5]}"
        assert not catalog.untranslated(current), lang
        committed = catalog.po_path(lang).with_suffix(".mo").read_bytes()
        assert committed == catalog.compile_mo(current), f"{lang}: .mo is stale"


def test_the_package_ships_templates_static_files_catalogues_and_streets() -> None:
    import tomllib

    root = Path(__file__).resolve().parents[2]
    data = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    globs = data["package-data"]["charter"]
    portal = root / "src" / "charter" / "portal"
    shipped: set[Path] = set()
    for g in globs:
        shipped |= set((root / "src" / "charter").glob(g))
    for path in portal.rglob("*"):
        if path.is_file() and path.suffix not in (".py", ".pyc"):
            assert path in shipped, f"{path.relative_to(root)} is not package data"


def test_the_vendored_ed25519_script_is_the_pinned_release() -> None:
    import hashlib

    vendor = Path(__file__).resolve().parents[2] / "src/charter/portal/static/vendor"
    digest = hashlib.sha256((vendor / "tweetnacl-1.0.3.min.js").read_bytes()).hexdigest()
    assert digest == "973cc5733cc7432e30ee4682098f413094f494bccf76a567c23908c5035ddbbc"
    assert digest in (vendor / "TWEETNACL.md").read_text()


def test_the_algorithm_register_says_which_services_are_switched_off(tmp_path: Path) -> None:
    p = build(Settings(data_dir=tmp_path), clock=FixedClock(START))
    seed_city(p, 5)
    on_the_register = {a.service for a in p.algorithms.list()}
    assert on_the_register == {
        "adaptive-signals", "emergency-preemption", "accessible-crossing", "snow-melt",
        "hazard-watch",
    }  # fmt: skip
    # What an approved disable_service action does (security/actions.py).
    p.registry.services.set("snow-melt", True, sample.COUNCIL, "heaters under repair")
    with TestClient(create_app(p)) as web:
        page = web.get("/city/algorithms/snow-melt").text
        assert "switched off" in page and "Two people decided" in page
        assert "in service" in web.get("/city/algorithms/hazard-watch").text
        listing = web.get("/city/algorithms").text
        assert listing.count("switched off") == 1
        missing = web.get("/city/algorithms/no-such-service")
        assert missing.status_code == 404 and "NOT_FOUND" in missing.text
    p.close()
