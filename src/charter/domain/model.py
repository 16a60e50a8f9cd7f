"""Entities of the register: vendors, projects and their data categories, devices.

These are pydantic models so that the API and the register validate a record
once, field by field, with a message per field. They carry no behaviour that
needs I/O.
"""

from __future__ import annotations

import base64
import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from charter.domain.disclosure import CategoryDisclosure, DeviceDisclosure, ProjectDisclosure

URN_RE = re.compile(r"^urn:ngsi-ld:[A-Za-z][A-Za-z0-9]*:[A-Za-z0-9._\-]{1,128}$")
CATEGORY_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")


def urn(kind: str, local_id: str) -> str:
    """The identifier of an entity, the same in every API."""
    return f"urn:ngsi-ld:{kind}:{local_id}"


def _check_urn(value: str, kind: str) -> str:
    if not URN_RE.match(value) or value.split(":")[2] != kind:
        raise ValueError(f"must be a URN of the form urn:ngsi-ld:{kind}:<id>")
    return value


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


NonEmpty = Annotated[str, Field(min_length=1, max_length=2000)]
ShortText = Annotated[str, Field(min_length=1, max_length=200)]


class ProjectStatus(StrEnum):
    DRAFT = "draft"
    CONSULTATION = "consultation"
    APPROVED = "approved"
    LIVE = "live"
    SUSPENDED = "suspended"
    RETIRED = "retired"


class DeviceStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    REVOKED = "revoked"


class TrustStatus(StrEnum):
    TRUSTED = "trusted"
    UNTRUSTED = "untrusted"


Jurisdiction = Annotated[str, Field(min_length=2, max_length=2, pattern=r"^[A-Z]{2}$")]


class DataGovernance(Strict):
    """A vendor's attestation of where data may flow and who can make it hand data over."""

    data_flows: list[Jurisdiction] = Field(default=[], max_length=64)
    state_compellable: bool = True  # can a state security organ compel it to hand over data?
    remote_raw_access: bool = True  # does it keep remote access to raw data?


class SbomComponent(Strict):
    name: ShortText
    version: Annotated[str, Field(max_length=100)] = ""
    purl: Annotated[str, Field(max_length=500)] | None = None


class Firmware(Strict):
    """What runs on a device: its version and the components its SBOM (CycloneDX) lists."""

    version: ShortText
    components: list[SbomComponent] = Field(default=[], max_length=5000)


class Vendor(Strict):
    id: str
    name: ShortText
    jurisdiction: Jurisdiction
    certifications: list[ShortText] = Field(default=[], max_length=64)
    remote_raw_access: bool = False
    trust: TrustStatus = TrustStatus.UNTRUSTED
    trust_reasons: list[str] = []
    attestation: DataGovernance | None = None

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        return _check_urn(v, "Vendor")


class FieldSpec(Strict):
    """One value a category carries: its type, unit and plausible range."""

    type: Literal["number", "integer", "string", "boolean"]
    unit: Annotated[str, Field(max_length=32)] | None = None
    minimum: float | None = None
    maximum: float | None = None
    max_length: Annotated[int, Field(ge=1, le=4096)] = 256

    @model_validator(mode="after")
    def _range(self) -> FieldSpec:
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            raise ValueError("minimum must not exceed maximum")
        return self


class NgsiMapping(Strict):
    """How a category's readings appear over NGSI-LD: a Smart Data Models entity type.

    `attributes` maps the category's fields to the type's attribute names (a field
    not named keeps its own name). The entity type is then this category's and
    project's on the register: only the gate writes it, from admitted readings.
    """

    type: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z][A-Za-z0-9_]*$")]
    attributes: dict[str, Annotated[str, Field(min_length=1, max_length=64)]] = {}


class DataCategory(Strict):
    """A kind of data a project declares: what it is, whether it is personal, how long kept."""

    name: Annotated[str, Field(max_length=64)]
    description: NonEmpty
    personal: bool
    retention_days: Annotated[int, Field(ge=1, le=36500)]
    fields: dict[str, FieldSpec] = Field(min_length=1, max_length=64)
    # DTPR data type, process, access, storage (checked by the register's rules)
    disclosure: CategoryDisclosure | None = None
    # For personal data: the string field that identifies the person (a fob, an
    # app token, a vehicle tag). The gate pseudonymises it and never stores it.
    identifier: str | None = None
    # Its NGSI-LD entity type (charter.ngsild); None: not published over NGSI-LD.
    ngsi: NgsiMapping | None = None

    @model_validator(mode="after")
    def _identifier(self) -> DataCategory:
        if self.identifier is not None:
            spec = self.fields.get(self.identifier)
            if spec is None or spec.type != "string":
                raise ValueError("identifier must name one of the category's string fields")
        return self

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not CATEGORY_RE.match(v):
            raise ValueError("must be dotted lower-case words, e.g. traffic.count")
        return v


class Project(Strict):
    id: str
    name: ShortText
    purpose: NonEmpty
    benefits: list[NonEmpty] = Field(min_length=1)
    categories: list[DataCategory] = Field(min_length=1, max_length=64)
    legal_basis: NonEmpty
    accountable_organisation: ShortText
    vendor_ids: list[str] = Field(min_length=1)
    status: ProjectStatus = ProjectStatus.DRAFT
    # contact, indicators, technology, area, principles... (see domain/disclosure.py)
    disclosure: ProjectDisclosure | None = None

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        return _check_urn(v, "Project")

    @field_validator("vendor_ids")
    @classmethod
    def _vendors(cls, v: list[str]) -> list[str]:
        return [_check_urn(x, "Vendor") for x in v]

    @model_validator(mode="after")
    def _unique_categories(self) -> Project:
        names = [c.name for c in self.categories]
        if len(set(names)) != len(names):
            raise ValueError("category names must be unique within a project")
        return self

    def category(self, name: str) -> DataCategory | None:
        for c in self.categories:
            if c.name == name:
                return c
        return None


class Location(Strict):
    lat: Annotated[float, Field(ge=-90, le=90)]
    lon: Annotated[float, Field(ge=-180, le=180)]


class Device(Strict):
    id: str
    vendor_id: str
    project_id: str
    modality: ShortText
    location: Location | None = None
    categories: list[str] = Field(min_length=1)
    public_key: str
    status: DeviceStatus = DeviceStatus.ACTIVE
    # Amsterdam sensor register fields beyond the project's (see domain/disclosure.py)
    disclosure: DeviceDisclosure = DeviceDisclosure()
    firmware: Firmware | None = None
    # Why the device fails the city's trust policy; empty when it passes.
    trust_reasons: list[str] = []

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        return _check_urn(v, "Device")

    @field_validator("vendor_id")
    @classmethod
    def _vendor(cls, v: str) -> str:
        return _check_urn(v, "Vendor")

    @field_validator("project_id")
    @classmethod
    def _project(cls, v: str) -> str:
        return _check_urn(v, "Project")

    @field_validator("public_key")
    @classmethod
    def _key(cls, v: str) -> str:
        try:
            raw = base64.b64decode(v, validate=True)
        except ValueError:
            raise ValueError("must be base64") from None
        if len(raw) != 32:
            raise ValueError("must be a 32-byte Ed25519 public key, base64-encoded")
        return v

    def public_key_bytes(self) -> bytes:
        return base64.b64decode(self.public_key)


class Actor(Strict):
    """Who did something: a named person or service acting in a role."""

    name: ShortText
    role: ShortText
    # Whom the actor speaks for beyond the role (a resident's pseudonymous id,
    # a data consumer's id); None for staff.
    subject: ShortText | None = None
    # A purpose-bound token's purposes: the actor may read personal data only
    # for one of them (empty: not purpose-bound). Checked by the services.
    purposes: tuple[str, ...] = ()
    # NGSI-LD tenants the token is bound to (NGSILD-Tenant is honoured only for these).
    tenants: tuple[str, ...] = ()


class StatusChange(Strict):
    subject: str
    old: str | None
    new: str
    actor: Actor
    why: NonEmpty
    at: datetime


PROJECT_TRANSITIONS: dict[ProjectStatus, frozenset[ProjectStatus]] = {
    ProjectStatus.DRAFT: frozenset({ProjectStatus.CONSULTATION, ProjectStatus.RETIRED}),
    ProjectStatus.CONSULTATION: frozenset(
        {ProjectStatus.APPROVED, ProjectStatus.DRAFT, ProjectStatus.RETIRED}
    ),
    ProjectStatus.APPROVED: frozenset({ProjectStatus.LIVE, ProjectStatus.RETIRED}),
    ProjectStatus.LIVE: frozenset({ProjectStatus.SUSPENDED, ProjectStatus.RETIRED}),
    ProjectStatus.SUSPENDED: frozenset({ProjectStatus.LIVE, ProjectStatus.RETIRED}),
    ProjectStatus.RETIRED: frozenset(),
}

DEVICE_TRANSITIONS: dict[DeviceStatus, frozenset[DeviceStatus]] = {
    DeviceStatus.ACTIVE: frozenset({DeviceStatus.SUSPENDED, DeviceStatus.REVOKED}),
    DeviceStatus.SUSPENDED: frozenset({DeviceStatus.ACTIVE, DeviceStatus.REVOKED}),
    DeviceStatus.REVOKED: frozenset(),
}
