"""Signal requests and their status, modelled on SAE J2735 SRM and SSM.

An emergency vehicle's on-board unit (a registered device of the live
"emergency priority" project, with its own key) sends a *signal request*
(J2735 SignalRequestMessage): `request` when it starts a call, `update` every
second or so on the way, `cancel` when it no longer needs priority. Each one
is a reading of the category `emergency.priority_request`, signed by the
vehicle in its envelope and admitted by the gate like any other reading, so an
unregistered vehicle, a forged signature, a replay or a project that is not
live never gets past the gate.

For each signal on the vehicle's route the service answers with a *signal
status* (J2735 SignalStatusMessage): requested, processing, granted,
rejected (with a reason code), and released once the vehicle has passed or
the request ended. Every status change is signed by the platform's command
key and sent to the vehicle, and it is on the ledger (`preemption.status`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from charter.device import DeviceSigner, SimReading
from charter.domain.errors import CharterError
from charter.domain.reasons import Reason
from charter.ledger.log import Ledger
from charter.services.base import Reading

CATEGORY = "emergency.priority_request"
UNITS = {"x": "m", "y": "m", "speed": "m/s", "heading": "deg", "edge_pos": "m"}
SSM_ACTION = "j2735.ssm"


class MessageType(StrEnum):
    """J2735 SRM request types (priorityRequestType)."""

    REQUEST = "request"  # priorityRequest
    UPDATE = "update"  # requestUpdate
    CANCEL = "cancel"  # priorityCancellation


class Status(StrEnum):
    """The request's status at one signal (J2735 PrioritizationResponseStatus)."""

    REQUESTED = "requested"  # received and checked; its time has not come
    PROCESSING = "processing"  # its time has come; waiting behind another request
    GRANTED = "granted"  # the controller is commanded to serve the vehicle's approach
    REJECTED = "rejected"  # refused, with a reason code
    RELEASED = "released"  # the vehicle passed, cancelled or timed out: normal program again


@dataclass(frozen=True)
class SignalRequest:
    """One SRM as the service reads it (positions in the network's metres)."""

    vehicle: str  # the on-board unit's device URN
    message: MessageType
    request_id: int
    priority: int  # 0 (lowest) … 7
    role: str  # J2735 BasicVehicleRole: fire, ambulance, police, …
    sent_ms: int
    x: float
    y: float
    speed: float
    heading: float  # degrees clockwise from north
    edge: str  # the road it is on (a junction's internal edge starts with ':')
    lane: str  # its inbound lane
    edge_pos: float  # metres along `edge`
    route: tuple[str, ...]  # the remaining route, edge ids
    intersection: str | None = None  # a single signal asked for (None: every one on the route)

    def values(self) -> dict[str, Any]:
        """What the on-board unit puts in its reading."""
        out: dict[str, Any] = {
            "message": self.message.value,
            "request_id": self.request_id,
            "priority": self.priority,
            "role": self.role,
            "x": round(self.x, 2),
            "y": round(self.y, 2),
            "speed": round(self.speed, 2),
            "heading": round(self.heading % 360.0, 1),
            "edge": self.edge,
            "lane": self.lane,
            "edge_pos": round(max(0.0, self.edge_pos), 2),
            "route": " ".join(self.route),
        }
        if self.intersection is not None:
            out["intersection"] = self.intersection
        return out

    @classmethod
    def from_reading(cls, reading: Reading) -> SignalRequest:
        """The SRM in an admitted reading, or INVALID_READING if it is not one."""
        v = reading.values
        try:
            return cls(
                vehicle=reading.device_id,
                message=MessageType(str(v["message"])),
                request_id=int(v["request_id"]),
                priority=int(v.get("priority", 0)),
                role=str(v.get("role", "")),
                sent_ms=reading.observed_at_ms,
                x=float(v["x"]),
                y=float(v["y"]),
                speed=float(v.get("speed", 0.0)),
                heading=float(v.get("heading", 0.0)),
                edge=str(v.get("edge", "")),
                lane=str(v.get("lane", "")),
                edge_pos=float(v.get("edge_pos", 0.0)),
                route=tuple(str(v.get("route", "")).split()),
                intersection=str(v["intersection"]) if v.get("intersection") else None,
            )
        except (KeyError, ValueError, TypeError) as e:
            raise CharterError(Reason.INVALID_READING, f"not a signal request: {e}") from None


@dataclass(frozen=True)
class SignalStatus:
    """One SSM: a request's status at one signal."""

    intersection: str  # the signal controller's device URN
    vehicle: str
    request_id: int
    status: Status
    at_ms: int
    reason: str | None = None  # a reason code when rejected, why when released
    eta_s: float | None = None

    def params(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "intersection": self.intersection,
            "request_id": self.request_id,
            "status": self.status.value,
            "at_ms": self.at_ms,
        }
        if self.reason is not None:
            out["reason"] = self.reason
        if self.eta_s is not None:
            out["eta_s"] = round(self.eta_s, 1)
        return out


class OnBoardUnit:
    """The emergency vehicle's side: it signs its SRMs as a registered device does."""

    def __init__(self, signer: DeviceSigner) -> None:
        self.signer = signer
        self.seq = 0

    @property
    def device_id(self) -> str:
        return self.signer.device_id

    def envelope(self, srm_values: dict[str, Any], t: datetime) -> bytes:
        self.seq += 1
        units = {k: u for k, u in UNITS.items() if k in srm_values}
        reading = SimReading(CATEGORY, t, srm_values, units)
        return self.signer.envelope(self.seq, t, [reading])


def record_status(ledger: Ledger, ssms: list[SignalStatus]) -> None:
    """Put one decision's status changes on the ledger, in one write (they name the
    vehicle's device, never a person)."""
    with ledger.write() as w:
        for ssm in ssms:
            fields: dict[str, Any] = {
                "intersection": ssm.intersection,
                "vehicle": ssm.vehicle,
                "request": ssm.request_id,
                "status": ssm.status.value,
            }
            if ssm.reason is not None:
                fields["reason"] = ssm.reason
            w.record("preemption.status", None, **fields)
