"""A sample city: vendors, projects in each stage of life, and devices with their own keys.

The devices' private keys belong to the simulated devices, not to the platform:
the platform is given only public keys. The simulator keeps its keys in a file
of its own beside the data so that a demo can be run again on the same data.

This module holds the fleet plan, the seed and the save/load of the simulated
devices' keys. The city's names and data categories live in `city_categories`
and its vendors and projects in `city_projects`; this module re-exports them
(and the model types callers build sample data with: `Area`, `DataCategory`,
`FieldSpec`, `ProjectStatus`), so that the many callers that write
`from charter.sim import city as sample` keep using `sample.<name>` for all of
the sample city.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from charter.device import DeviceSigner
from charter.domain.clock import FixedClock
from charter.domain.consultation import APPROVE
from charter.domain.disclosure import Area
from charter.domain.model import (
    DataCategory,
    Device,
    DeviceStatus,
    FieldSpec,
    Location,
    Project,
    ProjectStatus,
    urn,
)
from charter.portal import streets
from charter.registry.service import Registry
from charter.sim.city_categories import (
    AIR,
    AIR_QUALITY,
    CITY_AREA,
    COUNCIL,
    CROSSING_REQUEST,
    EMERGENCY,
    EMERGENCY_REQUEST,
    FLOOD,
    MOBILITY_ASSISTANCE,
    PARKING,
    PARKING_OCCUPANCY,
    RAINFALL,
    SEEDER,
    SIDEWALKS,
    SURFACE_WEATHER,
    TRAFFIC,
    TRAFFIC_COUNT,
    TRUSTED,
    UNTRUSTED,
    WATER_LEVEL,
    disclosure,
    statements,
    street_area,
)
from charter.sim.city_projects import (
    COMMON,
    emergency,
    projects,
    sidewalks,
    vendors,
)


@dataclass
class SimDevice:
    signer: DeviceSigner
    kind: str  # air | traffic | flood | parking | untrusted | suspended | revoked
    categories: list[str]
    seq: int = 0
    last_envelope: bytes = b""


@dataclass
class City:
    devices: list[SimDevice] = field(default_factory=list)

    def by_kind(self, kind: str) -> list[SimDevice]:
        return [d for d in self.devices if d.kind == kind]


# kind -> (vendor, project, modality, categories, share of the fleet)
FLEET: dict[str, tuple[str, str, str, list[str], float]] = {
    "air": (TRUSTED, AIR, "air quality station", ["air.quality"], 0.45),
    "traffic": (
        TRUSTED,
        TRAFFIC,
        "counting loop and crossing button",
        ["traffic.count", "pedestrian.crossing_request"],
        0.40,
    ),
    "flood": (TRUSTED, FLOOD, "water level gauge", ["water.level"], 0.06),
    "parking": (TRUSTED, PARKING, "parking bay sensor", ["parking.occupancy"], 0.03),
    "untrusted": (UNTRUSTED, AIR, "air quality station", ["air.quality"], 0.04),
    "suspended": (TRUSTED, AIR, "air quality station", ["air.quality"], 0.01),
    "revoked": (TRUSTED, AIR, "air quality station", ["air.quality"], 0.01),
}


def _fleet_plan(n: int) -> list[str]:
    plan: list[str] = []
    for kind, (*_, share) in FLEET.items():
        plan += [kind] * max(1, round(n * share))
    return plan[:n] if len(plan) >= n else plan + ["air"] * (n - len(plan))


@contextmanager
def back_then(registry: Registry, ago: timedelta) -> Iterator[None]:
    """Replay the sample city's history at the time it happened.

    A simulation aid only: the register itself refuses back-dated changes, so
    the seed runs the register on a clock that stands `ago` in the past, then
    gives the real clock back. Steps must be replayed oldest first.
    """
    real = registry.ledger.clock
    registry.ledger.clock = FixedClock(real.now() - ago)
    try:
        yield
    finally:
        registry.ledger.clock = real


def _in_area(project: Project, area: Area) -> Project:
    """The project consulted on `area` instead of the one its disclosure names."""
    assert project.disclosure is not None
    return project.model_copy(
        update={"disclosure": project.disclosure.model_copy(update={"area": area})}
    )


def register_projects(
    registry: Registry,
    *,
    consultation_over: bool = False,
    area: Area | None = None,
    services: bool = False,
) -> None:
    """Vendors and projects with their history: consulted, decided, live or still open.

    The project left in consultation opened ten days ago, so it takes comments;
    with `consultation_over` its period has just ended and it awaits the council.
    `area` puts the city elsewhere (a simulation's street network): every project
    is consulted on that area instead of the sample city's centre. `services`
    adds the projects of the city services' scenarios (warm sidewalks, emergency priority).
    """
    plan = projects() + ([sidewalks(), emergency()] if services else [])
    if area is not None:
        plan = [(_in_area(p, area), target) for p, target in plan]
    days = registry.rules.consultation_days
    with back_then(registry, timedelta(days=days + 30)):
        for v in vendors():
            registry.register_vendor(v, SEEDER)
        for project, target in plan:
            registry.create_project(project, SEEDER)
            if target is not ProjectStatus.CONSULTATION:
                registry.open_consultation(project.id, SEEDER, "public exhibition opened")
    opened = timedelta(days=days) if consultation_over else timedelta(days=min(10, days) / 2)
    with back_then(registry, opened):
        for project, target in plan:
            if target is ProjectStatus.CONSULTATION:
                registry.open_consultation(project.id, SEEDER, "public exhibition opened")
    for project, target in plan:
        if target is ProjectStatus.CONSULTATION:
            continue
        registry.decide(project.id, APPROVE, COUNCIL, "approved after consultation")
        registry.set_project_status(project.id, ProjectStatus.LIVE, SEEDER, "devices installed")


def seed(registry: Registry, n_devices: int = 1000, *, services: bool = False) -> City:
    """Register the sample city on an empty register; returns the simulated devices.

    Its projects are consulted on the street network's area and every device stands on
    one of its streets (the portal's map draws them over it). `services` adds the city
    services' projects (see register_projects)."""
    register_projects(registry, area=street_area(), services=services)
    city = City()
    # Every sensor stands on a street of the real network (the portal's map draws it).
    places = streets.load().points_along(n_devices)
    for i, kind in enumerate(_fleet_plan(n_devices)):
        vendor, project_id, modality, categories, _ = FLEET[kind]
        signer = DeviceSigner(urn("Device", f"{kind}-{i:05d}"))
        registry.register_device(
            Device(
                id=signer.device_id,
                vendor_id=vendor,
                project_id=project_id,
                modality=modality,
                location=Location(lat=places[i][1], lon=places[i][0]),
                categories=categories,
                public_key=signer.public_key_b64,
            ),
            SEEDER,
        )
        city.devices.append(SimDevice(signer, kind, categories))
    for d in city.by_kind("suspended"):
        registry.set_device_status(
            d.signer.device_id,
            DeviceStatus.SUSPENDED,
            SEEDER,
            "reported tampered, under inspection",
        )
    for d in city.by_kind("revoked"):
        registry.set_device_status(
            d.signer.device_id, DeviceStatus.REVOKED, SEEDER, "key leaked; device replaced"
        )
    # Retire the parking pilot after its devices were enrolled: they keep sending.
    registry.set_project_status(PARKING, ProjectStatus.RETIRED, SEEDER, "pilot ended")
    return city


def save(city: City, path: Path) -> None:
    """The simulated devices' own keys: a file of the simulator, not of the platform."""
    rows = [
        {
            "id": d.signer.device_id,
            "kind": d.kind,
            "categories": d.categories,
            "key": base64.b64encode(d.signer.private_bytes()).decode(),
        }
        for d in city.devices
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rows))
    path.chmod(0o600)


def load(path: Path) -> City:
    rows = json.loads(path.read_text())
    return City(
        [
            SimDevice(
                DeviceSigner.from_private_bytes(r["id"], base64.b64decode(r["key"])),
                r["kind"],
                r["categories"],
            )
            for r in rows
        ]
    )


# The sample city's names, whichever of its modules defines them (see the docstring).
__all__ = [
    "AIR",
    "AIR_QUALITY",
    "CITY_AREA",
    "COMMON",
    "COUNCIL",
    "CROSSING_REQUEST",
    "EMERGENCY",
    "EMERGENCY_REQUEST",
    "FLEET",
    "FLOOD",
    "MOBILITY_ASSISTANCE",
    "PARKING",
    "PARKING_OCCUPANCY",
    "RAINFALL",
    "SEEDER",
    "SIDEWALKS",
    "SURFACE_WEATHER",
    "TRAFFIC",
    "TRAFFIC_COUNT",
    "TRUSTED",
    "UNTRUSTED",
    "WATER_LEVEL",
    "Area",
    "City",
    "DataCategory",
    "FieldSpec",
    "ProjectStatus",
    "SimDevice",
    "back_then",
    "disclosure",
    "emergency",
    "load",
    "projects",
    "register_projects",
    "save",
    "seed",
    "sidewalks",
    "statements",
    "street_area",
    "vendors",
]
