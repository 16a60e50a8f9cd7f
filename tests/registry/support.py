"""Helpers for the register's tests: a complete new project, and advancing past a consultation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from charter.bootstrap import Platform
from charter.domain.clock import FixedClock
from charter.domain.disclosure import Area, Indicator
from charter.domain.model import Actor, Project, urn
from charter.sim import city as sample

OPERATOR = Actor(name="test-operator", role="operator")
COUNCIL = Actor(name="test-council", role="council")
NOISE = urn("Project", "noise-map")
SMALL_AREA = Area(
    coordinates=[[(4.90, 52.36), (4.92, 52.36), (4.92, 52.38), (4.90, 52.38), (4.90, 52.36)]]
)


def noise_project(**overrides: Any) -> Project:
    doc: dict[str, Any] = {
        "id": NOISE,
        "name": "Noise map",
        "purpose": "Map street noise to plan quieter routes.",
        "benefits": ["A public noise map"],
        "categories": [sample.AIR_QUALITY],
        "legal_basis": "Public task",
        "accountable_organisation": "City of Example",
        "vendor_ids": [sample.TRUSTED],
        "disclosure": sample.disclosure(
            ["sound level meter"],
            [Indicator(name="Streets mapped", unit="%", baseline=0, target=100)],
            area=SMALL_AREA,
        ),
    }
    doc.update(overrides)
    return Project.model_validate(doc)


def to_consultation(platform: Platform, project: Project | None = None) -> Project:
    project = project or noise_project()
    platform.registry.create_project(project, OPERATOR)
    return platform.registry.open_consultation(project.id, OPERATOR, "exhibition opened")


def past_consultation(platform: Platform, clock: FixedClock) -> None:
    clock.advance(timedelta(days=platform.settings.consultation_days))
