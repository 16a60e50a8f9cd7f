"""What the simulated devices send: honest readings, and the mischief a gate must refuse."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from charter.device import DeviceSigner, SimReading
from charter.sim.city import City, SimDevice


def values_for(category: str, rng: random.Random) -> tuple[dict[str, Any], dict[str, str]]:
    if category == "air.quality":
        return (
            {
                "pm25": round(rng.uniform(3, 45), 1),
                "no2": round(rng.uniform(8, 70), 1),
                "temperature": round(rng.uniform(-5, 30), 1),
                "firmware_debug": "ok",
            },
            {"pm25": "ug/m3", "no2": "ug/m3", "temperature": "Cel"},
        )
    if category == "traffic.count":
        return (
            {"vehicles": rng.randint(0, 90), "mean_speed": round(rng.uniform(15, 55), 1)},
            {"vehicles": "count", "mean_speed": "km/h"},
        )
    if category == "pedestrian.crossing_request":
        # A raw fob identifier: personal data the gate must not keep without consent.
        return {"fob": f"fob-{rng.randint(1000, 9999)}", "extra_seconds": 6}, {"extra_seconds": "s"}
    if category == "water.level":
        return {"level": round(rng.uniform(5, 80), 1)}, {"level": "cm"}
    if category == "parking.occupancy":
        return {"occupied": rng.random() < 0.6}, {}
    raise ValueError(f"no simulated values for {category}")


class Traffic:
    def __init__(self, city: City, seed: int = 7, readings_per_envelope: int = 10) -> None:
        self.city = city
        self.rng = random.Random(seed)
        self.k = readings_per_envelope
        # Sequence numbers start from the clock so a re-run continues above old ones.
        self._seq_base = 0

    def start(self, now: datetime) -> None:
        self._seq_base = int(now.timestamp() * 1000)
        for d in self.city.devices:
            d.seq = self._seq_base

    def readings(self, device: SimDevice, now: datetime) -> list[SimReading]:
        out = []
        for j in range(self.k):
            category = device.categories[0]
            if len(device.categories) > 1 and self.rng.random() < 0.1:
                category = device.categories[1]
            values, units = values_for(category, self.rng)
            out.append(SimReading(category, now - timedelta(seconds=self.k - j), values, units))
        return out

    def honest(self, device: SimDevice, now: datetime) -> bytes:
        device.seq += 1
        body = device.signer.envelope(device.seq, now, self.readings(device, now))
        device.last_envelope = body
        return body

    def mischief(self, now: datetime) -> Iterator[tuple[str, bytes]]:
        """One of each kind of bad envelope the demo shows being refused."""
        air = self.rng.choice(self.city.by_kind("air"))
        forger = DeviceSigner(air.signer.device_id)  # right id, wrong key
        yield "forged signature", forger.envelope(air.seq + 1000, now, self.readings(air, now))
        if air.last_envelope:
            yield "replay", air.last_envelope
        air.seq += 1
        values, units = values_for("traffic.count", self.rng)
        undeclared = [SimReading("traffic.count", now, values, units)]
        yield "undeclared category", air.signer.envelope(air.seq, now, undeclared)
        air.seq += 1
        wrong = [
            SimReading("air.quality", now, {"pm25": "high"}),
            SimReading("air.quality", now, {"pm25": 12.0}, {"pm25": "mg/m3"}),
        ]
        yield "wrong type and unit", air.signer.envelope(air.seq, now, wrong)
        air.seq += 1
        stale = now - timedelta(hours=2)
        yield "stale timestamp", air.signer.envelope(air.seq, stale, self.readings(air, stale))
        yield "malformed JSON", b'{"envelope": {"v": 1, "device": "' + air.signer.device_id.encode()
        flood = self.rng.choice(self.city.by_kind("flood"))
        yield "project not live", self.honest(flood, now)
        parking = self.rng.choice(self.city.by_kind("parking"))
        yield "project retired", self.honest(parking, now)
