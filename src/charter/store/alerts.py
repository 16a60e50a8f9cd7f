"""Hazard warning plans, residents' alert subscriptions and flagged sensors (a part of the store).

A subscription row holds a zone, a channel (a webhook URL, or "mqtt": the
zone's topic) and the SHA-256 of the random id the resident keeps; no
identity, no location. Withdrawing deletes the row, so the next alert, in any
process, no longer reaches it. A flagged sensor's row (device id, the service
that flagged it, why, when, and when an operator released it) is how a release
made in one process reaches the service running in another.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Engine, delete, select, update
from sqlalchemy.engine import Connection

from charter.store import schema as s
from charter.store.upsert import dialect_insert, upsert


@dataclass(frozen=True, slots=True)
class AlertSubscriptionRow:
    id_sha256: str  # of the id the resident keeps; the id itself is not stored
    project_id: str
    zone: str
    channel: str  # a webhook URL, or "mqtt"
    created_at: int


@dataclass(frozen=True, slots=True)
class SensorFlagRow:
    device_id: str
    service: str
    why: str
    flagged_at: int
    released_at: int | None


class AlertsTx(Protocol):
    def put_hazard_plan(self, project_id: str, doc: str, at: int) -> None: ...
    def add_alert_subscription(self, row: AlertSubscriptionRow) -> None: ...
    def delete_alert_subscription(self, id_sha256: str) -> AlertSubscriptionRow | None: ...
    def put_sensor_flag(self, device_id: str, service: str, why: str, at: int) -> None: ...
    def release_sensor_flag(self, device_id: str, at: int) -> SensorFlagRow | None: ...
    def count_at_door(self, door: str, source: str, window_start: int) -> int: ...


class AlertsStore(Protocol):
    def get_hazard_plan(self, project_id: str) -> str | None: ...
    def list_hazard_plans(self) -> list[tuple[str, str]]: ...
    def alert_channels(self, project_id: str, zone: str) -> list[str]: ...
    def count_alert_subscriptions(self) -> dict[tuple[str, str], int]: ...
    def list_sensor_flags(self) -> list[SensorFlagRow]: ...
    def sensor_released_at(self, device_id: str) -> int | None: ...


def _sub(r: Any) -> AlertSubscriptionRow:
    return AlertSubscriptionRow(r[0], r[1], r[2], r[3], r[4])


def _flag(r: Any) -> SensorFlagRow:
    return SensorFlagRow(r[0], r[1], r[2], r[3], r[4])


_SUB = s.alert_subscriptions
_FLAG = s.sensor_flags
_SUB_COLS = (_SUB.c.id_sha256, _SUB.c.project_id, _SUB.c.zone, _SUB.c.channel, _SUB.c.created_at)
_FLAG_COLS = (_FLAG.c.device_id, _FLAG.c.service, _FLAG.c.why, _FLAG.c.flagged_at,
              _FLAG.c.released_at)  # fmt: skip


class SqlAlertsTx:
    conn: Connection

    def put_hazard_plan(self, project_id: str, doc: str, at: int) -> None:
        row = {"project_id": project_id, "doc": doc, "published_at": at}
        upsert(self.conn, s.hazard_plans, ("project_id",), row)

    def add_alert_subscription(self, row: AlertSubscriptionRow) -> None:
        self.conn.execute(
            _SUB.insert().values(
                id_sha256=row.id_sha256, project_id=row.project_id, zone=row.zone,
                channel=row.channel, created_at=row.created_at,
            )
        )  # fmt: skip

    def delete_alert_subscription(self, id_sha256: str) -> AlertSubscriptionRow | None:
        rows = list(self.conn.execute(select(*_SUB_COLS).where(_SUB.c.id_sha256 == id_sha256)))
        if not rows:
            return None
        self.conn.execute(delete(_SUB).where(_SUB.c.id_sha256 == id_sha256))
        return _sub(rows[0])

    def put_sensor_flag(self, device_id: str, service: str, why: str, at: int) -> None:
        row = {"device_id": device_id, "service": service, "why": why, "flagged_at": at,
               "released_at": None}  # fmt: skip
        upsert(self.conn, _FLAG, ("device_id",), row)

    def release_sensor_flag(self, device_id: str, at: int) -> SensorFlagRow | None:
        rows = list(self.conn.execute(select(*_FLAG_COLS).where(_FLAG.c.device_id == device_id)))
        if not rows:
            return None
        self.conn.execute(
            update(_FLAG).where(_FLAG.c.device_id == device_id).values(released_at=at)
        )
        return _flag(rows[0])

    def count_at_door(self, door: str, source: str, window_start: int) -> int:
        """Count one more passage of `source` through `door` in the window; the new count.

        Older windows of the door are dropped on the way: only the current one matters.
        """
        t = s.door_counts
        self.conn.execute(delete(t).where(t.c.door == door, t.c.window_start < window_start))
        stmt = dialect_insert(self.conn, t).values(
            door=door, source=source, window_start=window_start, n=1
        )
        self.conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["door", "source", "window_start"], set_={"n": t.c.n + 1}
            )
        )
        key = (t.c.door == door, t.c.source == source, t.c.window_start == window_start)
        return int(self.conn.execute(select(t.c.n).where(*key)).scalar_one())


class SqlAlertsStore:
    # Mixed into SqlStore, which provides the engine and the reader.
    engine: Engine
    _rows: Callable[[Any], list[Any]]

    def get_hazard_plan(self, project_id: str) -> str | None:
        t = s.hazard_plans
        rows = self._rows(select(t.c.doc).where(t.c.project_id == project_id))
        return str(rows[0][0]) if rows else None

    def list_hazard_plans(self) -> list[tuple[str, str]]:
        t = s.hazard_plans
        return [
            (r[0], r[1])
            for r in self._rows(select(t.c.project_id, t.c.doc).order_by(t.c.project_id))
        ]

    def alert_channels(self, project_id: str, zone: str) -> list[str]:
        stmt = select(_SUB.c.channel).where(_SUB.c.project_id == project_id, _SUB.c.zone == zone)
        return [r[0] for r in self._rows(stmt.order_by(_SUB.c.created_at))]

    def count_alert_subscriptions(self) -> dict[tuple[str, str], int]:
        out: dict[tuple[str, str], int] = {}
        for project, zone in self._rows(select(_SUB.c.project_id, _SUB.c.zone)):
            out[(project, zone)] = out.get((project, zone), 0) + 1
        return out

    def list_sensor_flags(self) -> list[SensorFlagRow]:
        return [_flag(r) for r in self._rows(select(*_FLAG_COLS).order_by(_FLAG.c.device_id))]

    def sensor_released_at(self, device_id: str) -> int | None:
        rows = self._rows(select(_FLAG.c.released_at).where(_FLAG.c.device_id == device_id))
        return None if not rows or rows[0][0] is None else int(rows[0][0])
