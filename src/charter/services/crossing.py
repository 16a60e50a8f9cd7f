"""The accessible crossing: more time to cross for a resident who opted in.

A resident who consented to mobility assistance at crossings (category
`mobility.assistance`, purpose `crossing-assistance`) carries a fob;
the crossing's detector reads it and sends the read through the gate. Without
consent the gate refuses it (NO_CONSENT) and drops it; with consent the one
door for personal data (`rights/feed.py`) hands this service the read minimised
to a pseudonym. The service then:

- extends the walk and the pedestrian clearance so that the crossing can be
  made at 0.9 m/s instead of the standard 1.07 m/s (MUTCD 4E.06), never by more
  than the crossing's maximum, through a signed command to the crossing's
  signal controller, which carries it out through its safe transitioner;
- asks the crossing's roadside unit to broadcast an anonymous alert to
  approaching connected vehicles, modelled on the SAE J2735 Personal Safety
  Message: the crossing's position and the extra time, signed by the unit; no
  identity, no temporary id, no path history, so nothing can be traced.

It keeps no record of who asked: only, per crossing, until when its extension
and alert run, and counts. Without a consented read the crossing runs its
standard timing, with the push button as the fallback.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from types import MappingProxyType
from typing import Any

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from charter.commands.command import Command
from charter.domain.algorithm import AlgorithmEntry, Figure, Risk
from charter.domain.clock import Clock
from charter.services.actuator import Actuator
from charter.services.base import Intent, Reading, Service

NAME = "accessible-crossing"
CATEGORY = "mobility.assistance"
PURPOSE = "crossing-assistance"
STANDARD_SPEED_MS = 1.07  # 3.5 ft/s, MUTCD 4E.06 pedestrian clearance
ASSISTED_SPEED_MS = 0.9  # 3.0 ft/s, MUTCD 4E.06 for slower pedestrians
BUTTON_SETBACK_M = 1.8  # 6 ft: walk + clearance cover the walk from the push button
MIN_WALK_S = 7.0  # MUTCD 4E.06 minimum walk interval
BUFFER_S = 3.0  # MUTCD 4E.06 buffer interval after the pedestrian change interval
EXTEND, PSM = "crossing.extend", "psm.broadcast"
PSM_DOMAIN = b"charter-psm-v1\n"  # a broadcast's signature never verifies as anything else
_encode = msgspec.json.Encoder(order="sorted").encode


@dataclass(frozen=True)
class Crossing:
    """One signalised crosswalk, as its traffic engineers programmed it."""

    id: str  # a public name (e.g. the SUMO crossing), never a person's
    detector: str  # device URN of the fob reader
    controller: str  # device URN of the signal controller
    broadcaster: str  # device URN of the roadside unit that broadcasts alerts
    length_m: float
    walk_s: float  # the programmed walk interval
    clearance_s: float  # programmed: crossing turns red → a conflicting stream's green
    lat: float
    lon: float
    max_extension_s: float = 15.0  # walk and clearance together, at most this much more
    alert_s: float = 120.0  # how long an alert stays valid (a wait and the crossing)


@dataclass(frozen=True)
class Extension:
    walk_s: float  # extra walk
    clearance_s: float  # extra clearance
    capped: bool  # the maximum cut it short

    @property
    def total_s(self) -> float:
        return self.walk_s + self.clearance_s


def _up(seconds: float) -> float:
    """Rounded up to a tenth of a second (a controller's resolution)."""
    return math.ceil(round(seconds * 10, 6)) / 10


def standard_clearance_s(length_m: float) -> float:
    """Walk's end to a conflicting green, as the standard asks: the crossing at 1.07 m/s."""
    return _up(length_m / STANDARD_SPEED_MS)


def extension(c: Crossing, speed_ms: float = ASSISTED_SPEED_MS) -> Extension:
    """How much more walk and clearance a pedestrian at `speed_ms` needs here.

    Clearance (walk's end to a conflicting green): the whole length at their
    speed and the 3 s buffer (length / speed + 3 s, MUTCD 4E.06), less what is
    programmed. Walk: at least the standard's minimum walk (7 s)
    scaled by the ratio of the speeds (they get as far in it as a pedestrian at
    1.07 m/s does in 7 s), and long enough that walk and clearance together take
    them from the push button, 1.8 m back from the kerb, to the far side
    ((length + 1.8) / speed); less what is programmed. The
    clearance, which keeps them out of the conflicting traffic, is served
    first; the walk gets what is left of the crossing's maximum.
    """
    if c.length_m <= 0 or speed_ms <= 0:
        raise ValueError("a crossing has a length and a pedestrian a speed above zero")
    need_clear = _up(max(0.0, c.length_m / speed_ms + BUFFER_S - c.clearance_s))
    scaled = MIN_WALK_S * STANDARD_SPEED_MS / speed_ms - c.walk_s
    total = (c.length_m + BUTTON_SETBACK_M) / speed_ms - c.walk_s - c.clearance_s - need_clear
    need_walk = _up(max(0.0, scaled, total))
    cap = max(0.0, c.max_extension_s)
    clear = min(need_clear, cap)
    more_walk = min(need_walk, cap - clear)
    capped = clear < need_clear or more_walk < need_walk
    return Extension(round(more_walk, 1), round(clear, 1), capped)


def psm(c: Crossing, ext: Extension, now_ms: int, count: int) -> dict[str, Any]:
    """An anonymous alert modelled on the J2735 Personal Safety Message.

    Where a J2735 PSM carries a temporary id, the person's own position, speed
    and path history, this one carries the crossing's position only: nothing
    identifies the person or lets two alerts be linked to one.
    """
    return {
        "type": "PSM-like",
        "basicType": "aPEDESTRIAN",
        "msgCnt": count % 128,
        "crossing": c.id,
        "position": {"lat": round(c.lat, 6), "lon": round(c.lon, 6)},
        "crossRequest": True,
        "extraTime_s": ext.total_s,
        "validFrom_ms": now_ms,
        "validUntil_ms": now_ms + int(c.alert_s * 1000),
    }


@dataclass
class _State:
    active_until_ms: int = 0
    served: int = 0  # extensions asked for
    alerts: int = 0


class CrossingService(Service):
    name = NAME
    categories: frozenset[str] = frozenset()
    purposes = MappingProxyType({CATEGORY: PURPOSE})

    def __init__(self, crossings: Sequence[Crossing]) -> None:
        self.crossings = {c.detector: c for c in crossings}
        self.state = {c.id: _State() for c in crossings}

    @property
    def actuators(self) -> Sequence[str]:
        seen: dict[str, None] = {}
        for c in self.crossings.values():
            seen[c.controller] = None
            seen[c.broadcaster] = None
        return list(seen)

    def on_readings(self, readings: Sequence[Reading], now_ms: int) -> list[Intent]:
        intents: list[Intent] = []
        for r in readings:
            c = self.crossings.get(r.device_id)
            if c is None or r.category != CATEGORY:
                continue
            st, ext = self.state[c.id], extension(c)
            # Every read asks again (the controller serves its next walk once, however
            # many ask); the alert is renewed when less than half of it is left.
            st.served += 1
            intents.append(
                Intent(
                    c.controller,
                    EXTEND,
                    {"crossing": c.id, "walk_s": ext.walk_s, "clearance_s": ext.clearance_s},
                )
            )
            if st.active_until_ms - now_ms > c.alert_s * 500:
                continue
            st.active_until_ms = now_ms + int(c.alert_s * 1000)
            st.alerts += 1
            intents.append(Intent(c.broadcaster, PSM, {"psm": psm(c, ext, now_ms, st.alerts)}))
        return intents

    def report(self) -> dict[str, Any]:
        return {cid: {"extensions": s.served, "alerts": s.alerts} for cid, s in self.state.items()}


@dataclass(frozen=True)
class SignedAlert:
    body: bytes  # the PSM-like message, JSON
    sig: str  # base64 Ed25519 by the roadside unit, over PSM_DOMAIN + body

    def message(self) -> dict[str, Any]:
        out: dict[str, Any] = msgspec.json.decode(self.body)
        return out


def verify_alert(alert: SignedAlert, public_key: Ed25519PublicKey) -> dict[str, Any] | None:
    """What a vehicle does with a broadcast: the message, or None if it does not verify."""
    try:
        public_key.verify(base64.b64decode(alert.sig), PSM_DOMAIN + alert.body)
    except (InvalidSignature, ValueError):
        return None
    return alert.message()


class RoadsideUnit(Actuator):
    """Broadcasts the platform's verified alerts to vehicles, signed with its own key.

    Alone (platform lost) it broadcasts nothing new: an alert is only ever
    about a request the platform verified, and each one expires by itself.
    """

    def __init__(
        self,
        device_id: str,
        platform_key_b64: str,
        clock: Clock,
        max_silence: timedelta,
        key: Ed25519PrivateKey | None = None,
    ) -> None:
        super().__init__(device_id, platform_key_b64, clock, max_silence)
        self._key = key or Ed25519PrivateKey.generate()
        self.public_key = self._key.public_key()
        self.broadcasts: list[SignedAlert] = []

    def apply(self, cmd: Command) -> None:
        if cmd.action != PSM:
            return
        body = _encode(cmd.params["psm"])
        sig = base64.b64encode(self._key.sign(PSM_DOMAIN + body)).decode()
        self.broadcasts.append(SignedAlert(body, sig))

    def enter_safe_mode(self, why: str) -> None:
        return None

    def leave_safe_mode(self) -> None:
        return None


# `charter sim crossing` on game/DRT, seed 1, 3600 s (docs/services.md has the whole line).
MEASURED = (
    Figure(
        name="consented slow pedestrians caught at a conflicting green (standard timing: 8)",
        value=0,
        measured_by="charter sim crossing",
    ),
    Figure(
        name="extra vehicle time loss at the junction",
        value=1.5,
        unit="%",
        measured_by="charter sim crossing",
    ),
    Figure(
        name="vehicle-pedestrian conflicts while alerted (vehicles ignoring the alert: 48)",
        value=1,
        measured_by="charter sim crossing",
    ),
    Figure(
        name="readings kept about residents who did not consent",
        value=0,
        measured_by="charter sim crossing",
    ),
)


def entry(project_id: str, figures: Sequence[Figure] = ()) -> AlgorithmEntry:
    """The service's entry on the public algorithm register."""
    return AlgorithmEntry(
        service=NAME,
        project_id=project_id,
        name="Accessible crossing",
        purpose="More time to cross for residents who asked for it, and a warning to "
        "approaching connected vehicles that someone needs longer at that crossing.",
        data_used=[CATEGORY],
        how_it_decides=(
            "When a crossing's reader reads the fob of a resident who consented to crossing "
            "assistance, the crossing's next walk and pedestrian clearance are lengthened so "
            "that it can be crossed at 0.9 m/s instead of 1.07 m/s (MUTCD 4E.06): clearance "
            "= length / 0.9 m/s and the 3 s buffer, walk scaled by 1.07 / 0.9 and long enough "
            "to reach the far side from the push button, both together never more than the "
            "crossing's maximum (15 s); the controller ends them early once nobody waits at "
            "the kerb and the crosswalk is empty. Approaching connected vehicles get an "
            "anonymous alert with the crossing's position, signed by its roadside unit."
        ),
        human_oversight=(
            "Traffic engineers set each crossing's maximum extension in its controller, which "
            "refuses anything unsafe (minimum greens, yellows and all-reds are kept) and runs "
            "its own plan alone; without a consented read the crossing runs its standard "
            "timing and the push button."
        ),
        risks=[
            Risk(
                risk="A fob read could reveal where a resident is.",
                mitigation="Without consent it is refused at the gate and dropped; with "
                "consent the service sees a pseudonym per day only, keeps nothing about the "
                "person, and the alert names the crossing, never the person.",
            ),
            Risk(
                risk="Longer crossings delay vehicles.",
                mitigation="Extensions only on request, capped at the crossing's maximum; the "
                "delay is measured (charter sim crossing).",
            ),
        ],
        figures=list(figures) or list(MEASURED),
        actuators=["signal controller", "roadside unit"],
        accountable="Traffic department",
        contact="traffic@example.org",
    )
