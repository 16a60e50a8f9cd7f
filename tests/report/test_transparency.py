"""The transparency report is computed from the records, escapes what people wrote,
and says plainly what is not recorded yet."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from charter.api.app import create_app
from charter.bootstrap import Platform
from charter.domain.consultation import Stance
from charter.domain.model import DeviceStatus
from charter.report.page import render
from charter.report.transparency import NOT_RECORDED, compute
from charter.sim import city as sample
from tests.conftest import OPERATOR, SampleCity, air_reading
from tests.registry.support import NOISE, to_consultation

SCRIPT = "<script>alert('pwned')</script>"


def traffic(city: SampleCity) -> None:
    now = city.platform.clock.now()
    city.platform.gate.ingest(
        [
            city.envelope(city.air, [air_reading(now), air_reading(now, pm25=-5.0)]),
            city.envelope(city.air),
            city.envelope(city.untrusted),
            city.envelope(city.flood),
        ]
    )


def test_the_figures_come_from_the_records(platform: Platform, city: SampleCity) -> None:
    traffic(city)
    platform.registry.set_device_status(
        city.air.device_id, DeviceStatus.SUSPENDED, OPERATOR, "casing opened"
    )
    report = compute(platform.store, platform.ledger)
    assert report.admitted == platform.store.count_readings() == 2
    assert report.rejected == platform.store.rejections_by_reason()
    assert report.rejected_total == sum(report.rejected.values()) >= 3
    assert report.quarantine_held == platform.store.count_quarantine("held")
    assert report.checkpoint["size"] == platform.ledger.size
    assert report.projects_by_status == {"live": 3, "consultation": 1}
    kinds = {(c.project, c.status) for c in report.consultations}
    assert (sample.FLOOD, "open") in kinds and (sample.AIR, "approved") in kinds
    [incident] = report.incidents
    assert (incident.subject, incident.change, incident.why) == (
        city.air.device_id,
        "active → suspended",
        "casing opened",
    )
    assert report.consent == NOT_RECORDED and report.access_requests == NOT_RECORDED


def test_a_project_report_counts_only_that_project(platform: Platform, city: SampleCity) -> None:
    traffic(city)
    air = compute(platform.store, platform.ledger, sample.AIR)
    flood = compute(platform.store, platform.ledger, sample.FLOOD)
    assert air.admitted == 2 and flood.admitted == 0
    assert flood.rejected == {"PROJECT_NOT_LIVE": 1}
    assert "PROJECT_NOT_LIVE" not in air.rejected
    assert [c.project for c in flood.consultations] == [sample.FLOOD]


class Rights:
    def consent_counts(self, project_id: str | None) -> dict[str, dict[str, int]]:
        return {"pedestrian.crossing_request": {"given": 12, "withdrawn": 3}}

    def access_requests(self, project_id: str | None) -> dict[str, dict[str, int]]:
        return {"research": {"granted": 2, "refused": 1}}

    def retention(self, project_id: str | None) -> list[dict[str, Any]]:
        return [{"at": "2026-01-01T00:00:00Z", "removed": 7, "by_project": {}}]


def test_rights_sections_come_from_a_provider_when_there_is_one(
    platform: Platform, city: SampleCity
) -> None:
    report = compute(platform.store, platform.ledger, rights=Rights())
    assert report.consent == {"pedestrian.crossing_request": {"given": 12, "withdrawn": 3}}
    page = render(report)
    assert "pedestrian.crossing_request" in page and "refused" in page
    assert NOT_RECORDED not in page
    assert NOT_RECORDED in render(compute(platform.store, platform.ledger))


def test_what_people_wrote_is_escaped_in_the_html(platform: Platform, city: SampleCity) -> None:
    to_consultation(platform)
    fb = platform.registry.feedback
    c = fb.comment(NOISE, SCRIPT + "<img src=x onerror=alert(1)>", Stance.OPPOSE, "a")
    theme = fb.add_theme(NOISE, "<b>Scripts</b>", "<iframe src=x>", [c.id], OPERATOR)
    fb.respond(theme.id, "We said <script>no</script>", OPERATOR)
    traffic(city)
    page = render(compute(platform.store, platform.ledger, NOISE))
    assert "<script" not in page and "<img" not in page and "<iframe" not in page
    assert "<b>Scripts" not in page
    assert "&lt;script&gt;alert(&#x27;pwned&#x27;)&lt;/script&gt;" in page
    assert "&lt;b&gt;Scripts&lt;/b&gt;" in page
    assert page.count("<svg") >= 1  # plots are inline, no external assets
    assert "src=" not in page.replace("src=x", "")  # nothing loaded from elsewhere


@pytest.fixture
def client(platform: Platform) -> Iterator[TestClient]:
    with TestClient(create_app(platform)) as c:
        yield c


def test_the_api_serves_the_report_as_json(client: TestClient, city: SampleCity) -> None:
    r = client.get("/report/transparency")
    assert r.status_code == 200
    body = r.json()
    assert body["scope"] == "city" and body["checkpoint"]["size"] > 0
    # The platform has a residents' register: its figures are recorded, none yet.
    assert (body["consent"], body["access_requests"], body["retention"]) == ({}, {}, [])
    r = client.get("/report/transparency", params={"project": sample.AIR})
    assert r.json()["scope"] == sample.AIR
    assert client.get("/report/transparency", params={"project": "nope"}).status_code == 404


def test_the_command_writes_the_html_report(
    platform: Platform, city: SampleCity, tmp_path: Path
) -> None:
    traffic(city)
    out = tmp_path / "report.html"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "charter.cli",
            "report",
            "transparency",
            "--out",
            str(out),
            "--data-dir",
            str(platform.settings.data_dir),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    page = out.read_text()
    assert page.startswith("<!doctype html>") and "<svg" in page
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["admitted"] == 2 and figures["scope"] == "city"


def test_the_platform_reports_consents_access_requests_and_retention_from_its_records(
    platform: Platform, city: SampleCity
) -> None:
    """The report's rights section is computed from the residents' register itself."""
    from charter.domain.model import Actor
    from charter.report.transparency import rights_of
    from tests.conftest import COUNCIL, OPERATOR
    from tests.rights.support import CROSSING, PURPOSE, as_resident, resident

    rid, consent = resident(platform, "fob-a")
    resident(platform, "fob-b")
    assert consent is not None
    platform.rights.consents.withdraw(rid, consent, as_resident(rid))
    app = Actor(name="crossing-app", role="consumer", subject="crossing-app")
    req = platform.rights.access.request(
        app, dataset=sample.TRAFFIC, categories=[CROSSING], purpose=PURPOSE, why="longer green"
    )
    until = platform.clock.now() + timedelta(days=30)
    platform.rights.access.decide(
        req.id, COUNCIL, grant=True, why="a public task", expires_at=until
    )
    platform.rights.retention.run(OPERATOR)

    rights = rights_of(platform)
    assert rights is not None
    city_wide = compute(platform.store, platform.ledger, rights=rights)
    assert city_wide.consent == {CROSSING: {"given": 1, "withdrawn": 1}}
    assert city_wide.access_requests == {PURPOSE: {"granted": 1}}
    assert isinstance(city_wide.retention, list) and len(city_wide.retention) == 1
    # Another project's report holds none of the traffic project's rights figures.
    air = compute(platform.store, platform.ledger, sample.AIR, rights=rights)
    assert air.consent == {} and air.access_requests == {}
    page = render(city_wide)
    assert "crossing-assistance" in page and "Retention" in page
    assert rid not in page  # counts only: never who
