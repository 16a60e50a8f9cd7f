"""What Smart Data Models types need beyond a renamed field (ngsild.bridge, ngsild.devices).

A category maps its fields to a type's attribute names (`DataCategory.ngsi`); most types
need nothing more. Some do: the type's unit differs from the category's (a Vehicle's
`speed` is in km/h, a J2735 on-board unit reports m/s), a value is named from another
vocabulary (J2735's BasicVehicleRole `fire` is Smart Data Models' `fireBrigade`), the type
requires attributes a reading does not carry (a Vehicle's `category` and `vehicleType`),
or the device's registered location is not where the thing is (a vehicle moves: its
entity gets no `location` from the register). The attribute names are those of the
Smart Data Models specifications (dataModel.Transportation/Vehicle, dataModel.Alert/Alert,
dataModel.Streetlighting/Streetlight, dataModel.Device/Device), as the cached contexts in
`ngsild/contexts/` define them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# Types whose entity gets no `location` from the device's registered one.
MOVING = frozenset({"Vehicle"})

# J2735 BasicVehicleRole → the Smart Data Models Vehicle enum (`vehicleSpecialUsage`).
VEHICLE_ROLES = {"ambulance": "ambulance", "fire": "fireBrigade", "police": "police"}


@dataclass(frozen=True)
class Convert:
    """A field's value as the type has it, and back (the device door), with its unitCode."""

    out: Callable[[Any], Any]
    back: Callable[[Any], Any]
    unit_code: str | None = None


def _kmh(v: Any) -> Any:
    return round(v * 3.6, 2) if isinstance(v, int | float) and not isinstance(v, bool) else v


def _ms(v: Any) -> Any:
    return round(v / 3.6, 3) if isinstance(v, int | float) and not isinstance(v, bool) else v


def _role(v: Any) -> Any:
    return VEHICLE_ROLES.get(v, v) if isinstance(v, str) else v


def _j2735(v: Any) -> Any:
    back = {sdm: j for j, sdm in VEHICLE_ROLES.items()}
    return back.get(v, v) if isinstance(v, str) else v


# (type, attribute) → conversion
CONVERT: dict[tuple[str, str], Convert] = {
    ("Vehicle", "speed"): Convert(_kmh, _ms, "KMH"),
    ("Vehicle", "emergencyVehicleType"): Convert(_role, _j2735),
}


def value(type_name: str, attribute: str, v: Any) -> tuple[Any, str | None]:
    """The attribute's value in the type's terms, and its unitCode if the type fixes one."""
    c = CONVERT.get((type_name, attribute))
    return (c.out(v), c.unit_code) if c is not None else (v, None)


def back(type_name: str, attribute: str, v: Any) -> tuple[Any, bool]:
    """A device's value in the category's terms; True if the type's unit was converted."""
    c = CONVERT.get((type_name, attribute))
    return (c.back(v), c.unit_code is not None) if c is not None else (v, False)


def required(type_name: str, values: dict[str, Any]) -> dict[str, Any]:
    """Attributes the type requires that a reading does not carry (by attribute name)."""
    if type_name == "Vehicle":
        out: dict[str, Any] = {
            # a city emergency vehicle whose position its on-board unit reports
            "category": ["municipalServices", "specialUsage", "tracked"],
            "vehicleType": "other",  # its body (car, van, lorry) is not in its reading
        }
        role = values.get("role")
        if role in VEHICLE_ROLES:
            out["vehicleSpecialUsage"] = VEHICLE_ROLES[role]
        if values.get("message") in ("request", "update"):
            out["serviceStatus"] = "onRoute"
        return out
    return {}


# Smart Data Models Device `controlledProperty` (its enum) of the attributes Charter's
# categories publish; a category none of whose attributes is here is named by itself.
CONTROLLED = {
    "pm25": "airPollution", "no2": "airPollution", "temperature": "temperature",
    "intensity": "trafficFlow", "averageVehicleSpeed": "averageVelocity",
    "occupancy": "occupancy", "occupied": "occupancy", "currentLevel": "waterLevel",
    "precipitation": "precipitation", "windSpeed": "windSpeed", "surface_temp": "temperature",
    "speed": "speed", "heading": "heading", "illuminanceLevel": "light", "powerState": "power",
}  # fmt: skip


def controlled(categories: list[tuple[str, list[str]]]) -> list[str]:
    """A device's `controlledProperty`: per category (name, its attribute names), the
    Smart Data Models properties it measures, in order, each once."""
    out: list[str] = []
    for name, attributes in categories:
        found = [CONTROLLED[a] for a in attributes if a in CONTROLLED] or [name]
        out.extend(p for p in found if p not in out)
    return out
