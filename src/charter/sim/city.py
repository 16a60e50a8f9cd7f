"""A sample city: vendors, projects in each stage of life, and devices with their own keys.

The devices' private keys belong to the simulated devices, not to the platform:
the platform is given only public keys. The simulator keeps its keys in a file
of its own beside the data so that a demo can be run again on the same data.
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
from charter.domain.disclosure import (
    Access,
    Area,
    Capability,
    CategoryDisclosure,
    Indicator,
    Processing,
    ProjectDisclosure,
)
from charter.domain.model import (
    Actor,
    DataCategory,
    Device,
    DeviceStatus,
    FieldSpec,
    Location,
    NgsiMapping,
    Project,
    ProjectStatus,
    Vendor,
    urn,
)
from charter.domain.principles import DEFAULT_PRINCIPLES, parse_principles
from charter.portal import streets
from charter.registry.service import Registry

SEEDER = Actor(name="demo-seed", role="operator")
COUNCIL = Actor(name="council-clerk", role="council")

TRUSTED = urn("Vendor", "northwind-sensing")
UNTRUSTED = urn("Vendor", "shadowtech")
AIR = urn("Project", "clean-air")
TRAFFIC = urn("Project", "safe-crossings")
FLOOD = urn("Project", "flood-watch")
PARKING = urn("Project", "parking-pilot")
SIDEWALKS = urn("Project", "warm-sidewalks")
EMERGENCY = urn("Project", "emergency-priority")

AIR_QUALITY = DataCategory(
    name="air.quality",
    description="Particulate matter, NO2 and temperature at street level.",
    personal=False,
    retention_days=730,
    fields={
        "pm25": FieldSpec(type="number", unit="ug/m3", minimum=0, maximum=1000),
        "no2": FieldSpec(type="number", unit="ug/m3", minimum=0, maximum=2000),
        "temperature": FieldSpec(type="number", unit="Cel", minimum=-60, maximum=70),
    },
    disclosure=CategoryDisclosure(
        collected="Particle counts, NO2 concentration and air temperature; no images or sound.",
        processing=[Processing.AGGREGATED],
        access=[Access.RESIDENTS, Access.CITY],
        storage="City data centre, Example (EU)",
    ),
    ngsi=NgsiMapping(type="AirQualityObserved"),
)
TRAFFIC_COUNT = DataCategory(
    name="traffic.count",
    description="Vehicles passing a counting loop per minute.",
    personal=False,
    retention_days=365,
    fields={
        "vehicles": FieldSpec(type="integer", unit="count", minimum=0, maximum=10_000),
        "mean_speed": FieldSpec(type="number", unit="km/h", minimum=0, maximum=300),
        # Share of the interval a vehicle was over the loop: a queue standing on it.
        "occupancy": FieldSpec(type="number", unit="%", minimum=0, maximum=100),
    },
    disclosure=CategoryDisclosure(
        collected="Counts and mean speed of vehicles over an induction loop; no plates.",
        processing=[Processing.AGGREGATED],
        access=[Access.RESIDENTS, Access.CITY],
        storage="City data centre, Example (EU)",
    ),
    ngsi=NgsiMapping(
        type="TrafficFlowObserved",
        attributes={"vehicles": "intensity", "mean_speed": "averageVehicleSpeed"},
    ),
)
CROSSING_REQUEST = DataCategory(
    name="pedestrian.crossing_request",
    # A fob holds its own Ed25519 key and sends the identifier derived from it
    # (`charter.device.FobKey`); a resident links it by having it answer a
    # challenge (`charter.sim.demo_residents.link_fob`).
    description="A resident's fob asks a crossing for more time; identifies the fob.",
    personal=True,
    retention_days=1,
    fields={
        "fob": FieldSpec(type="string", max_length=64),
        "extra_seconds": FieldSpec(type="integer", unit="s", minimum=0, maximum=30),
    },
    disclosure=CategoryDisclosure(
        collected="The id of a resident's crossing fob and the extra seconds asked for.",
        processing=[Processing.ENCRYPTED],
        access=[Access.CITY],
        storage="City data centre, Example (EU), encrypted at rest",
    ),
    identifier="fob",
    ngsi=NgsiMapping(type="CrossingRequest"),
)
# The accessible crossing (`charter.services.crossing`): a resident who opted in to
# mobility assistance carries a fob that a crossing's reader reads at the kerb, so
# that the crossing gives them the time they need (walking at 0.9 m/s).
MOBILITY_ASSISTANCE = DataCategory(
    name="mobility.assistance",
    description="A crossing's reader reads the fob of a resident who needs longer to "
    "cross; identifies the fob.",
    personal=True,
    retention_days=1,
    fields={
        "fob": FieldSpec(type="string", max_length=64),
        "extra_seconds": FieldSpec(type="integer", unit="s", minimum=0, maximum=30),
    },
    disclosure=CategoryDisclosure(
        collected="The id of a resident's mobility-assistance fob, read at a crossing's "
        "kerb; nothing about the person.",
        processing=[Processing.ENCRYPTED],
        access=[Access.CITY],
        storage="City data centre, Example (EU), encrypted at rest",
    ),
    identifier="fob",
)
WATER_LEVEL = DataCategory(
    name="water.level",
    description="Water level in storm drains and creeks.",
    personal=False,
    retention_days=3650,
    fields={"level": FieldSpec(type="number", unit="cm", minimum=-100, maximum=2000)},
    disclosure=CategoryDisclosure(
        collected="Water level in centimetres above the drain floor.",
        processing=[Processing.RAW],
        access=[Access.RESIDENTS, Access.CITY, Access.THIRD_PARTIES],
        third_parties=["Regional water authority"],
        storage="City data centre, Example (EU)",
    ),
    ngsi=NgsiMapping(type="FloodMonitoring", attributes={"level": "currentLevel"}),
)
RAINFALL = DataCategory(
    name="rain.rate",
    description="Rainfall intensity at a rain gauge.",
    personal=False,
    retention_days=3650,
    fields={"rate": FieldSpec(type="number", unit="mm/h", minimum=0, maximum=500)},
    disclosure=CategoryDisclosure(
        collected="Rainfall in millimetres an hour at a tipping-bucket gauge.",
        processing=[Processing.RAW],
        access=[Access.RESIDENTS, Access.CITY, Access.THIRD_PARTIES],
        third_parties=["Regional water authority"],
        storage="City data centre, Example (EU)",
    ),
    ngsi=NgsiMapping(type="WeatherObserved", attributes={"rate": "precipitation"}),
)
PARKING_OCCUPANCY = DataCategory(
    name="parking.occupancy",
    description="Whether a parking bay is taken.",
    personal=False,
    retention_days=90,
    fields={"occupied": FieldSpec(type="boolean")},
    disclosure=CategoryDisclosure(
        collected="Whether a bay is taken; no images, no plates.",
        processing=[Processing.AGGREGATED],
        access=[Access.RESIDENTS, Access.CITY, Access.VENDOR],
        storage="Northwind Sensing cloud, Frankfurt (EU)",
    ),
)

SURFACE_WEATHER = DataCategory(
    name="surface.weather",
    description="Road weather at a heated sidewalk: surface and air temperature, wind, "
    "precipitation and surface moisture.",
    personal=False,
    retention_days=365,
    fields={
        # The sensor's measuring range; the service judges what is physically plausible.
        "surface_temp": FieldSpec(type="number", unit="Cel", minimum=-80, maximum=100),
        "air_temp": FieldSpec(type="number", unit="Cel", minimum=-80, maximum=100),
        "wind_speed": FieldSpec(type="number", unit="m/s", minimum=0, maximum=100),
        "precip": FieldSpec(type="number", unit="mm/h", minimum=0, maximum=500),
        "moisture": FieldSpec(type="number", unit="kg/m2", minimum=0, maximum=500),
    },
    disclosure=CategoryDisclosure(
        collected="Temperatures, wind, precipitation and water or snow on the surface; "
        "no images or sound.",
        processing=[Processing.RAW],
        access=[Access.RESIDENTS, Access.CITY],
        storage="City data centre, Example (EU)",
    ),
    ngsi=NgsiMapping(
        type="WeatherObserved",
        attributes={
            "air_temp": "temperature",
            "wind_speed": "windSpeed",
            "precip": "precipitation",
        },
    ),
)


# The city's own emergency vehicles ask the signals on their route for green
# (an SAE J2735 signal request, `charter.services.j2735`): the vehicle, not a person.
EMERGENCY_REQUEST = DataCategory(
    name="emergency.priority_request",
    description="An emergency vehicle of the city's fleet asks the signals on its route for "
    "green: its position, speed, heading, route and priority.",
    personal=False,
    retention_days=365,
    fields={
        "message": FieldSpec(type="string", max_length=16),  # request | update | cancel
        "request_id": FieldSpec(type="integer", minimum=0, maximum=2**31),
        "priority": FieldSpec(type="integer", minimum=0, maximum=7),
        "role": FieldSpec(type="string", max_length=32),
        "x": FieldSpec(type="number", unit="m", minimum=-1e7, maximum=1e7),
        "y": FieldSpec(type="number", unit="m", minimum=-1e7, maximum=1e7),
        "speed": FieldSpec(type="number", unit="m/s", minimum=0, maximum=100),
        "heading": FieldSpec(type="number", unit="deg", minimum=0, maximum=360),
        "edge": FieldSpec(type="string", max_length=512),
        "lane": FieldSpec(type="string", max_length=512),
        "edge_pos": FieldSpec(type="number", unit="m", minimum=0, maximum=1e5),
        "route": FieldSpec(type="string", max_length=4096),
        "intersection": FieldSpec(type="string", max_length=512),
    },
    disclosure=CategoryDisclosure(
        collected="Where a city emergency vehicle on a call is, how fast and where it is "
        "headed, and its priority; no crew, no patient, no images.",
        processing=[Processing.RAW],
        access=[Access.CITY],
        storage="City data centre, Example (EU)",
    ),
    # The Smart Data Models Vehicle (its role as `emergencyVehicleType`); read over NGSI-LD
    # by city staff only, as the disclosure's access says (ngsild.rights).
    ngsi=NgsiMapping(type="Vehicle", attributes={"role": "emergencyVehicleType"}),
)


# The city centre: longitude first, as GeoJSON (RFC 7946) has it, counter-clockwise.
CITY_AREA = Area(
    coordinates=[[(4.85, 52.33), (4.99, 52.33), (4.99, 52.47), (4.85, 52.47), (4.85, 52.33)]]
)


def street_area() -> Area:
    """The demo city: the street network the city services simulate (SUMO's game/DRT,
    Berlin-Adlershof), as the portal's street extract has it."""
    return Area(coordinates=[streets.load().area_ring()])


def disclosure(
    technologies: list[str],
    indicators: list[Indicator],
    *,
    personal: bool = False,
    area: Area = CITY_AREA,
    capabilities: tuple[Capability, ...] = (Capability.ENVIRONMENTAL_SENSING,),
) -> ProjectDisclosure:
    """A complete disclosure: contact, indicators, technology and what it does, area,
    a word per principle."""
    return ProjectDisclosure(
        contact="urban-data@example.city, +31 20 555 0100",
        indicators=indicators,
        technologies=technologies,
        capabilities=list(capabilities),
        purposes=["public service", "planning"],
        privacy_statement="https://example.city/privacy/urban-data" if personal else None,
        impact_assessment="DPIA 2026-07, City of Example" if personal else None,
        area=area,
        principles=statements(indicators[0], personal),
    )


def statements(indicator: Indicator, personal: bool) -> dict[str, str]:
    """How a sample project meets each of the default principles, in plain words."""
    said = {
        "people-first": "It answers a need residents raised, and they can see what it does "
        "for them on the public register.",
        "open-transparent": "Every device is on the public register and map; figures are "
        "published as open data and every decision is on the public ledger.",
        "privacy-security": (
            "Personal data is taken only with a resident's opt-in consent, encrypted, and kept "
            "no longer than declared."
            if personal
            else "It collects no data about people; every device signs what it sends."
        ),
        "evidence": f"Success is measured: {indicator.name} from {indicator.baseline:g} to "
        f"{indicator.target:g} {indicator.unit}, reported in the transparency report.",
        "inclusive": "Results are published in plain language and in accessible formats, "
        "in every district the project covers.",
        "collaborate": "It went to public consultation; each theme raised got a published "
        "response before the council decided.",
        "sustainable": "Devices come from a vendor that passes the city's trust policy, and "
        "the project is reviewed every year against its indicators.",
    }
    return {p.id: said.get(p.id, p.title) for p in parse_principles(DEFAULT_PRINCIPLES)}


def vendors() -> list[Vendor]:
    return [
        Vendor(
            id=TRUSTED,
            name="Northwind Sensing",
            jurisdiction="NL",
            certifications=["ISO/IEC 27001", "IEC 62443-4-2"],
        ),
        Vendor(
            id=UNTRUSTED,
            name="ShadowTech Devices",
            jurisdiction="XX",
            certifications=[],
            remote_raw_access=True,
        ),
    ]


# What every sample project shares: its legal basis and who answers for it.
COMMON = {
    "legal_basis": "Public task (municipal by-law 2026/14)",
    "accountable_organisation": "City of Example, Office of Urban Data",
}


def _in_area(project: Project, area: Area) -> Project:
    assert project.disclosure is not None
    return project.model_copy(
        update={"disclosure": project.disclosure.model_copy(update={"area": area})}
    )


def projects() -> list[tuple[Project, ProjectStatus]]:
    return [
        (
            Project(
                id=AIR,
                name="Clean air on every street",
                purpose="Measure street-level air quality to target traffic and green measures.",
                benefits=[
                    "Publish hourly air quality per neighbourhood",
                    "Cut days above the WHO PM2.5 guideline by 20% by 2028",
                ],
                categories=[AIR_QUALITY],
                vendor_ids=[TRUSTED, UNTRUSTED],
                disclosure=disclosure(
                    ["air quality sensor"],
                    [
                        Indicator(
                            name="Days above WHO PM2.5 guideline",
                            unit="days/year",
                            baseline=41,
                            target=33,
                            by="2028",
                        )
                    ],
                ),
                **COMMON,
            ),
            ProjectStatus.LIVE,
        ),
        (
            Project(
                id=TRAFFIC,
                name="Safe crossings",
                purpose="Count traffic and give pedestrians who ask for it more crossing time.",
                benefits=[
                    "Signal timing that follows measured traffic",
                    "Longer crossing time on request for residents who opted in",
                ],
                categories=[TRAFFIC_COUNT, CROSSING_REQUEST, MOBILITY_ASSISTANCE],
                vendor_ids=[TRUSTED],
                disclosure=disclosure(
                    ["induction loop", "crossing button with fob reader"],
                    [
                        Indicator(
                            name="Pedestrians stranded mid-crossing",
                            unit="per week",
                            baseline=120,
                            target=30,
                            by="2027",
                        )
                    ],
                    personal=True,
                    capabilities=(Capability.VEHICLE_DETECTION, Capability.TOKEN_READING),
                ),
                **COMMON,
            ),
            ProjectStatus.LIVE,
        ),
        (
            Project(
                id=FLOOD,
                name="Flood watch",
                purpose="Early warning of flooding from drain and creek levels.",
                benefits=["Warn residents of flooding 30 minutes earlier"],
                categories=[WATER_LEVEL, RAINFALL],
                vendor_ids=[TRUSTED],
                disclosure=disclosure(
                    ["ultrasonic water level gauge", "tipping-bucket rain gauge"],
                    [Indicator(name="Warning lead time", unit="minutes", baseline=10, target=40)],
                ),
                **COMMON,
            ),
            ProjectStatus.CONSULTATION,
        ),
        (
            Project(
                id=PARKING,
                name="Parking pilot 2025",
                purpose="Find out whether bay sensors reduce searching for parking.",
                benefits=["Report on search traffic before and after"],
                categories=[PARKING_OCCUPANCY],
                vendor_ids=[TRUSTED],
                disclosure=disclosure(
                    ["in-ground magnetometer"],
                    [
                        Indicator(
                            name="Share of traffic searching for parking",
                            unit="%",
                            baseline=30,
                            target=20,
                            by="2025",
                        )
                    ],
                    capabilities=(Capability.PRESENCE_DETECTION,),
                ),
                **COMMON,
            ),
            ProjectStatus.RETIRED,
        ),
    ]


def sidewalks() -> tuple[Project, ProjectStatus]:
    """The snow-melt service's project (registered by `register_projects(services=True)`)."""
    return (
        Project(
            id=SIDEWALKS,
            name="Warm sidewalks",
            purpose="Keep priority sidewalks free of ice with heated segments, "
            "using energy only when ice is likely.",
            benefits=[
                "No icy hours at hospital entrances, school steps and metro stairs",
                "Use at least 30% less energy than heating on a thermostat alone",
            ],
            categories=[SURFACE_WEATHER],
            vendor_ids=[TRUSTED],
            disclosure=disclosure(
                ["road weather sensor", "sidewalk heater"],
                [
                    Indicator(
                        name="Energy used by sidewalk heating",
                        unit="MWh/winter",
                        baseline=100,
                        target=70,
                        by="2028",
                    )
                ],
            ),
            **COMMON,
        ),
        ProjectStatus.LIVE,
    )


def emergency() -> tuple[Project, ProjectStatus]:
    """The preemption service's project (registered by `register_projects(services=True)`)."""
    return (
        Project(
            id=EMERGENCY,
            name="Emergency priority",
            purpose="Traffic signals clear the way for the city's emergency vehicles, so that "
            "first responders reach the scene of an emergency sooner.",
            benefits=[
                "Ambulances and fire engines on a call wait less at red lights",
                "Everyone else loses no more time than with the field preemption it replaces",
            ],
            categories=[EMERGENCY_REQUEST],
            vendor_ids=[TRUSTED],
            disclosure=disclosure(
                ["on-board unit of an emergency vehicle", "signal controller"],
                [
                    Indicator(
                        name="Mean emergency travel time through signals",
                        unit="s",
                        baseline=260,
                        target=135,
                        by="2028",
                    )
                ],
                capabilities=(Capability.VEHICLE_DETECTION,),
            ),
            **COMMON,
        ),
        ProjectStatus.LIVE,
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
