"""A city service on the public algorithm register.

The fields follow the Amsterdam and Helsinki algorithm registers: what the
algorithm is for, the data it uses, how it decides (in plain words), who
oversees it, its risks and how each is mitigated, and what it was measured to
do. A service without an entry on the register does not start.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator

from charter.domain.model import Strict, _check_urn

Text = Annotated[str, Field(min_length=1, max_length=4000)]
Short = Annotated[str, Field(min_length=1, max_length=200)]
ServiceName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{1,62}$")]


class Risk(Strict):
    """One risk of the algorithm and what is done about it."""

    risk: Text
    mitigation: Text


class Figure(Strict):
    """A measured figure, with how it was measured (a benchmark command, a study)."""

    name: Short
    value: float
    unit: Annotated[str, Field(max_length=32)] = ""
    measured_by: Short


class AlgorithmEntry(Strict):
    service: ServiceName
    project_id: str
    name: Short
    purpose: Text
    data_used: list[Annotated[str, Field(max_length=64)]] = Field(min_length=1, max_length=32)
    how_it_decides: Text
    human_oversight: Text
    risks: list[Risk] = Field(min_length=1)
    figures: list[Figure] = Field(default_factory=list)
    actuators: list[Short] = Field(
        default_factory=list
    )  # kinds of actuator it commands (signal controller, heater…)
    accountable: Short  # the department answerable for it
    contact: Short

    @field_validator("project_id")
    @classmethod
    def _project(cls, v: str) -> str:
        return _check_urn(v, "Project")
