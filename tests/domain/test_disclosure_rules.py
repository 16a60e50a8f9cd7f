"""The register's rules about disclosures, as pure functions."""

from __future__ import annotations

from datetime import date

from charter.domain.disclosure import Access, Area, CategoryDisclosure, Processing
from charter.domain.disclosure_rules import (
    device_problems,
    device_record,
    project_problems,
)
from charter.domain.model import Device, Location, urn
from charter.domain.principles import (
    DEFAULT_PRINCIPLES,
    DEFAULT_PROHIBITED,
    broken_rules,
    parse_principles,
    parse_prohibited,
)
from charter.sim import city as sample
from tests.registry.support import noise_project

PRINCIPLES = parse_principles(DEFAULT_PRINCIPLES)
KEY = "A" * 43 + "="


def test_the_sample_city_discloses_everything() -> None:
    for project, _ in sample.projects():
        assert project_problems(project, PRINCIPLES, complete=True) == []


def test_personal_data_needs_a_privacy_statement_and_an_impact_assessment() -> None:
    project = noise_project(categories=[sample.CROSSING_REQUEST])
    fields = [f for f, _ in project_problems(project, PRINCIPLES, complete=True)]
    assert fields == ["disclosure.privacy_statement", "disclosure.impact_assessment"]


def test_each_category_discloses_what_how_who_and_where() -> None:
    bare = sample.AIR_QUALITY.model_copy(update={"disclosure": CategoryDisclosure()})
    fields = [
        f for f, _ in project_problems(noise_project(categories=[bare]), PRINCIPLES, complete=True)
    ]
    assert fields == [
        f"categories.0.disclosure.{x}" for x in ("collected", "processing", "access", "storage")
    ]


def test_contradictions_are_found_even_in_a_draft() -> None:
    cd = CategoryDisclosure(
        collected="x",
        processing=[Processing.K_ANONYMOUS],
        access=[Access.CITY],
        third_parties=["Acme"],
        storage="here",
    )
    cat = sample.AIR_QUALITY.model_copy(update={"disclosure": cd})  # not personal
    problems = dict(project_problems(noise_project(categories=[cat]), PRINCIPLES, complete=False))
    assert set(problems) == {"categories.0.disclosure.processing", "categories.0.disclosure.access"}
    bowtie = Area(coordinates=[[(0, 0), (1, 1), (1, 0), (0, 1), (0, 0)]])
    p = noise_project()
    assert p.disclosure is not None
    crossed = p.model_copy(update={"disclosure": p.disclosure.model_copy(update={"area": bowtie})})
    assert dict(project_problems(crossed, PRINCIPLES, complete=False)) == {
        "disclosure.area": "the area's boundary crosses itself"
    }


def test_the_device_record_follows_the_amsterdam_register() -> None:
    project = sample.projects()[1][0]  # safe crossings: one personal category
    device = Device(
        id=urn("Device", "x"),
        vendor_id=sample.TRUSTED,
        project_id=project.id,
        modality="crossing button",
        location=Location(lat=52.36, lon=4.9),
        categories=["pedestrian.crossing_request"],
        public_key=KEY,
    )
    record = device_record(device, project)
    assert record["owner"] == project.accountable_organisation
    assert record["personal_data"] is True
    assert record["observation_goal"] == project.purpose
    assert record["legal_ground"] == project.legal_basis
    assert record["measures"] == ["pedestrian.crossing_request (extra_seconds, fob)"]
    assert device_problems(device, project, date(2026, 1, 1)) == []


def test_prohibited_uses_are_found_by_id_or_by_words() -> None:
    rules = parse_prohibited(DEFAULT_PROHIBITED)
    assert broken_rules(rules, ["Air quality"]) == []
    assert [r.id for r in broken_rules(rules, ["FACIAL_RECOGNITION camera"])] == [
        "remote-biometric-identification"
    ]
    assert [r.id for r in broken_rules(rules, ["emotion-recognition"])] == ["emotion-recognition"]
    custom = parse_prohibited(["licence plate recognition"])
    assert [r.rule for r in broken_rules(custom, ["ANPR with licence plate recognition"])] == [
        "No use of licence plate recognition."
    ]
