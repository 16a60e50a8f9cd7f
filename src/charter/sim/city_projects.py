"""The sample city's vendors and projects, each in the stage of life the seed takes
it to, and the projects of the city services' scenarios (warm sidewalks,
emergency priority).

Part of the sample city (`charter.sim.city`), which re-exports these names and
registers them (`register_projects`).
"""

from __future__ import annotations

from charter.domain.disclosure import Capability, Indicator
from charter.domain.model import Project, ProjectStatus, Vendor
from charter.sim.city_categories import (
    AIR,
    AIR_QUALITY,
    CROSSING_REQUEST,
    EMERGENCY,
    EMERGENCY_REQUEST,
    FLOOD,
    MOBILITY_ASSISTANCE,
    PARKING,
    PARKING_OCCUPANCY,
    RAINFALL,
    SIDEWALKS,
    SURFACE_WEATHER,
    TRAFFIC,
    TRAFFIC_COUNT,
    TRUSTED,
    UNTRUSTED,
    WATER_LEVEL,
    disclosure,
)


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
