"""The sample city's names and data: its actors, vendor and project ids, the data
categories its devices send, the city centre's area and the street network's,
and the disclosure every sample project publishes.

Part of the sample city (`charter.sim.city`), which re-exports these names.
"""

from __future__ import annotations

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
    FieldSpec,
    NgsiMapping,
    urn,
)
from charter.domain.principles import DEFAULT_PRINCIPLES, parse_principles
from charter.portal import streets

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
