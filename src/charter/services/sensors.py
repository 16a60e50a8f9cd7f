"""Sensors a city service flagged (stuck, out of range, jumping) and the operator's release.

A service that distrusts a sensor's readings does not act on them; it reports
the sensor (`flag_reporter`: a `hazard.sensor_flagged` entry on the ledger and
a row in the store, device ids are not personal). An operator who checked the
sensor releases it (`release_sensor`, from `charter services release` or any
process): on the ledger, and in the store, where the running service sees it
at the sensor's next reading.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from charter.domain.errors import NotFound
from charter.domain.model import Actor
from charter.ledger.log import Ledger
from charter.store.alerts import SensorFlagRow
from charter.store.base import Store


@dataclass
class Flag:
    device_id: str
    why: str  # out_of_range | jump | stuck | missing | released
    value: float
    at_ms: int


def flag_reporter(ledger: Ledger, service: str = "hazard-watch") -> Callable[[Flag], None]:
    """Report a flagged sensor to the operator: on the record and in the store."""

    def report(flag: Flag) -> None:
        with ledger.write() as w:
            if flag.why == "released":
                w.tx.release_sensor_flag(flag.device_id, w.now_ms)
                w.record("hazard.sensor_released", None, device=flag.device_id, why=flag.why)
                return
            w.tx.put_sensor_flag(flag.device_id, service, flag.why, w.now_ms)
            w.record(
                "hazard.sensor_flagged", None, device=flag.device_id, why=flag.why, service=service
            )

    return report


def release_sensor(
    store: Store, ledger: Ledger, device_id: str, actor: Actor, why: str
) -> SensorFlagRow:
    """The operator checked a flagged sensor: its readings count again, in every process."""
    with ledger.write() as w:
        row = w.tx.release_sensor_flag(device_id, w.now_ms)
        if row is None:
            raise NotFound(f"flagged sensor {device_id}")
        w.record("hazard.sensor_released", actor, device=device_id, service=row.service, why=why)
    return row


def released_in(store: Store) -> Callable[[str], bool]:
    """For a service: has the operator released this sensor since it was last flagged?"""
    return lambda device_id: store.sensor_released_at(device_id) is not None
