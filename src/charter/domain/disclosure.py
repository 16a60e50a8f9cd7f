"""The disclosure vocabulary: what people need to judge a project or a device.

The words follow the DTPR taxonomy (Digital Trust for Places and Routines:
accountable, purpose, technology, data type, process, access, storage,
retention); a device's public record follows the Amsterdam sensor register
(owner, location or region, what it measures, personal data, observation goal,
legal ground, active until). The models here hold the extra fields; which
fields are missing or contradict each other is decided in `disclosure_problems`
of `charter.domain.register_rules`, with one message per field.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

Text = Annotated[str, Field(min_length=1, max_length=2000)]
Short = Annotated[str, Field(min_length=1, max_length=200)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Processing(StrEnum):
    """DTPR 'process': how a data category is treated before anyone uses it."""

    RAW = "raw"
    AGGREGATED = "aggregated"
    DE_IDENTIFIED = "de-identified"
    DIFFERENTIALLY_PRIVATE = "differentially-private"
    K_ANONYMOUS = "k-anonymous"
    ENCRYPTED = "encrypted"


# Treatments that only make sense for data about people.
PERSONAL_ONLY = frozenset(
    {Processing.DE_IDENTIFIED, Processing.K_ANONYMOUS, Processing.DIFFERENTIALLY_PRIVATE}
)
# Treatments that change the data, so it is no longer raw.
TRANSFORMING = frozenset(
    {
        Processing.AGGREGATED,
        Processing.DE_IDENTIFIED,
        Processing.DIFFERENTIALLY_PRIVATE,
        Processing.K_ANONYMOUS,
    }
)


class Access(StrEnum):
    """DTPR 'access': who can see a data category."""

    RESIDENTS = "residents"
    CITY = "city"
    VENDOR = "vendor"
    THIRD_PARTIES = "third-parties"


class Capability(StrEnum):
    """DTPR technology types: what a technology does with what it senses.

    Declared by every project (and by a device that uses fewer than its project),
    so that the register checks uses, not words: a prohibited capability is
    refused however the project describes it.
    """

    ENVIRONMENTAL_SENSING = "environmental-sensing"  # air, water, sound level, weather
    VEHICLE_DETECTION = "vehicle-detection"  # counting or detecting vehicles, no identity
    PEOPLE_COUNTING = "people-counting"  # counting people, no identity
    PRESENCE_DETECTION = "presence-detection"  # whether a place is taken
    TOKEN_READING = "token-reading"  # noqa: S105 (a fob, card or tag that identifies its holder)
    IMAGE_CAPTURE = "image-capture"
    VIDEO_RECORDING = "video-recording"
    AUDIO_RECORDING = "audio-recording"
    OBJECT_DETECTION = "object-detection"
    FACE_DETECTION = "face-detection"  # finding faces, e.g. to blur them; not who they are
    FACIAL_RECOGNITION = "facial-recognition"
    BIOMETRIC_IDENTIFICATION = "biometric-identification"
    GAIT_ANALYSIS = "gait-analysis"
    EMOTION_RECOGNITION = "emotion-recognition"
    LICENCE_PLATE_READING = "licence-plate-reading"
    DEVICE_TRACKING = "device-tracking"  # Wi-Fi or Bluetooth addresses of passers-by
    INDIVIDUAL_RISK_SCORING = "individual-risk-scoring"


# Capabilities that single out a person: a project using one collects personal data.
IDENTIFYING = frozenset(
    {
        Capability.TOKEN_READING,
        Capability.FACIAL_RECOGNITION,
        Capability.BIOMETRIC_IDENTIFICATION,
        Capability.GAIT_ANALYSIS,
        Capability.LICENCE_PLATE_READING,
        Capability.DEVICE_TRACKING,
        Capability.INDIVIDUAL_RISK_SCORING,
    }
)


class CategoryDisclosure(_Strict):
    """DTPR data type, process, access and storage of one data category."""

    collected: Text | None = None
    processing: list[Processing] = []
    access: list[Access] = []
    third_parties: list[Short] = []
    storage: Short | None = None


class Indicator(_Strict):
    """A measurable benefit: what is measured, from where to where, by when."""

    name: Short
    unit: Annotated[str, Field(min_length=1, max_length=32)]
    baseline: float
    target: float
    by: Annotated[str, Field(pattern=r"^\d{4}(-\d{2}(-\d{2})?)?$")] | None = None


class Area(_Strict):
    """A GeoJSON Polygon (RFC 7946): rings of [longitude, latitude] positions."""

    type: str = "Polygon"
    coordinates: list[list[tuple[float, float]]] = Field(min_length=1, max_length=16)

    @field_validator("type")
    @classmethod
    def _polygon(cls, v: str) -> str:
        if v != "Polygon":
            raise ValueError("must be a GeoJSON Polygon")
        return v

    @field_validator("coordinates")
    @classmethod
    def _rings(cls, rings: list[list[tuple[float, float]]]) -> list[list[tuple[float, float]]]:
        for ring in rings:
            if len(ring) < 4 or len(ring) > 1000:
                raise ValueError("each ring needs 4 to 1000 positions")
            if ring[0] != ring[-1]:
                raise ValueError("each ring must end where it starts")
            for lon, lat in ring:
                if not (-180 <= lon <= 180 and -90 <= lat <= 90):
                    raise ValueError("positions are [longitude, latitude] in range")
        return rings


class ProjectDisclosure(_Strict):
    """What a project discloses beyond its purpose, categories and legal basis."""

    contact: Short | None = None
    indicators: list[Indicator] = Field(default=[], max_length=32)
    technologies: list[Short] = Field(default=[], max_length=32)
    # What the technology does (DTPR technology types); needed before consultation.
    capabilities: list[Capability] = Field(default=[], max_length=32)
    purposes: list[Short] = Field(default=[], max_length=32)
    privacy_statement: Short | None = None
    impact_assessment: Short | None = None
    area: Area | None = None
    # principle id -> how the project meets it, in plain words
    principles: dict[Short, Text] = Field(default={}, max_length=32)


class DeviceDisclosure(_Strict):
    """Amsterdam sensor register fields a device adds to what its project says."""

    owner: Short | None = None
    mobile: bool = False
    region: Area | None = None
    observation_goal: Text | None = None
    active_until: date | None = None
    # Which of its project's capabilities the device uses; empty means all of them.
    capabilities: list[Capability] = Field(default=[], max_length=32)
