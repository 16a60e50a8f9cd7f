"""What the accessible crossing's paired runs share: the demand (walkers normal and
slow, consented or not, and the vehicle streams through the site) and the platform's
side (the fob reader, the controller and roadside unit on the register, the slow
walkers' residents with their fobs and consents)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from charter.bootstrap import Platform, build
from charter.device import DeviceSigner, FobKey, SimReading
from charter.domain.clock import FixedClock
from charter.domain.model import Actor, Device, urn
from charter.services.crossing import ASSISTED_SPEED_MS, CATEGORY, PURPOSE, Crossing, entry
from charter.settings import Settings
from charter.sim import city as sample
from charter.sim.demo_residents import link_fob
from charter.sim.sumo.city import START, _lat_lon, _net_area, safe_id
from charter.sim.sumo.crossing_site import Site

OPERATOR = Actor(name="sim-operator", role="operator")
DESK = Actor(name="sim-service-desk", role="operator")
SLOW_MS, NORMAL_MS = ASSISTED_SPEED_MS, 1.3


# -- demand ------------------------------------------------------------------------
@dataclass(frozen=True)
class Walker:
    id: str
    kind: str  # "slow-consented" | "slow" | "normal"
    depart: float


def demand(
    site: Site,
    net: Any,
    out: Path,
    *,
    seed: int,
    end_s: float,
    ped_period_s: float,
    slow_share: float,
    consent_share: float,
    flow_period_s: float,
    turn_period_s: float = 10.0,
) -> tuple[Path, list[Walker]]:
    rng = random.Random(seed)
    walkers: list[Walker] = []
    t = rng.expovariate(1 / ped_period_s)
    while t < end_s:
        slow = rng.random() < slow_share
        kind = ("slow-consented" if rng.random() < consent_share else "slow") if slow else "normal"
        walkers.append(Walker(f"{kind}-{len(walkers)}", kind, round(t, 1)))
        t += rng.expovariate(1 / ped_period_s)
    lines = [
        "<routes>",
        f'  <vType id="slow" vClass="pedestrian" maxSpeed="{SLOW_MS}" speedDev="0"/>',
        f'  <vType id="normal" vClass="pedestrian" maxSpeed="{NORMAL_MS}" speedDev="0.1"/>',
    ]
    tls = net.getTLS(site.tls)
    links: dict[tuple[str, str], set[int]] = {}
    right_turns: set[int] = set()
    for a, o, i in tls.getConnections():
        if (
            i in site.crossers
            and a.getEdge().getFunction() == ""
            and a.allows("passenger")
            and o.allows("passenger")
        ):
            links.setdefault((a.getEdge().getID(), o.getEdge().getID()), set()).add(i)
            if any(c.getTLLinkIndex() == i and c.getDirection() in "rR" for c in a.getOutgoing()):
                right_turns.add(i)
    pairs = sorted(links)
    for j, (a, b) in enumerate(pairs):
        # A right turn that may cross during the walk gets its own stream of vehicles
        # (it yields to nobody but the pedestrians; a permissive left turn also yields to
        # the oncoming traffic, and a stream of them jams); the rest share one.
        turning = bool(links[(a, b)] & set(site.permissive) & right_turns)
        period = turn_period_s if turning else flow_period_s * len(pairs)
        lines.append(
            f'  <flow id="site{j}" from="{a}" to="{b}" begin="0" end="{end_s}" '
            f'period="{period:.1f}" departLane="best" departSpeed="max"/>'
        )
    for n, w in enumerate(walkers):
        a, b = site.sides if n % 2 == 0 else site.sides[::-1]
        vtype = "normal" if w.kind == "normal" else "slow"
        lines.append(
            f'  <person id="{w.id}" depart="{w.depart}" type="{vtype}">'
            f'<walk from="{a}" to="{b}"/></person>'
        )
    lines.append("</routes>")
    # SUMO wants persons and flows sorted by departure.
    body = lines[3:-1]
    body.sort(key=lambda s: 0.0 if "<flow" in s else float(s.split('depart="')[1].split('"')[0]))
    out.write_text("\n".join([*lines[:3], *body, lines[-1]]) + "\n")
    return out, walkers


# -- the platform's side ------------------------------------------------------------
@dataclass
class CrossingCity:
    platform: Platform
    clock: FixedClock
    crossing: Crossing
    reader: DeviceSigner
    fobs: dict[str, FobKey]  # walker id -> fob (slow walkers only)
    residents: dict[str, str]  # walker id -> resident id
    seq: int = 0

    def read(self, walker_ids: list[str]) -> list[tuple[int, str, str]]:
        """The reader sends the fobs it read at the kerb through the gate."""
        now = self.clock.now()
        self.seq += 1
        readings = [
            SimReading(CATEGORY, now, {"fob": self.fobs[w].identifier, "extra_seconds": 0})
            for w in walker_ids
        ]
        [out] = self.platform.gate.ingest([self.reader.envelope(self.seq, now, readings)])
        return out.reading_reasons


def build_crossing_city(
    net: Any, site: Site, walkers: list[Walker], data_dir: Path, *, heartbeat_s: float = 1.0
) -> CrossingCity:
    clock = FixedClock(START)
    platform = build(Settings(data_dir=data_dir, service_heartbeat_s=heartbeat_s), clock=clock)
    sample.register_projects(platform.registry, area=_net_area(net))
    short = safe_id(site.edge.lstrip(":"))[:60]
    where = _lat_lon(net, *site.xy)
    reader = DeviceSigner(urn("Device", f"fob-reader-{short}"))
    controller = urn("Device", f"crossing-signal-{short}")
    rsu = urn("Device", f"roadside-unit-{short}")
    for device_id, modality, key, cats in (
        (reader.device_id, "crossing fob reader", reader.public_key_b64, [CATEGORY]),
        (controller, "signal-controller", DeviceSigner(controller).public_key_b64, []),
        (rsu, "roadside unit", DeviceSigner(rsu).public_key_b64, []),
    ):
        platform.registry.register_device(
            Device(
                id=device_id,
                vendor_id=sample.TRUSTED,
                project_id=sample.TRAFFIC,
                modality=modality,
                location=where,
                categories=cats or ["traffic.count"],
                public_key=key,
            ),
            OPERATOR,
        )
    lat, lon = (where.lat, where.lon) if where is not None else (0.0, 0.0)
    crossing = Crossing(
        site.edge, reader.device_id, controller, rsu, site.length_m, site.walk_s,
        site.clearance_s, lat, lon,
    )  # fmt: skip
    platform.algorithms.register(entry(sample.TRAFFIC), OPERATOR, "accessible crossing")
    rights = platform.rights
    fobs: dict[str, FobKey] = {}
    residents: dict[str, str] = {}
    for w in walkers:
        if w.kind == "normal":
            continue
        rid = rights.residents.create(DESK).id
        me = Actor(name="resident", role="resident", subject=rid)
        fob = FobKey()
        link_fob(rights.residents, rid, fob, me)
        if w.kind == "slow-consented":
            rights.consents.grant(
                rid, category=CATEGORY, purpose=PURPOSE, projects=[sample.TRAFFIC], actor=me
            )
        fobs[w.id], residents[w.id] = fob, rid
    return CrossingCity(platform, clock, crossing, reader, fobs, residents)
