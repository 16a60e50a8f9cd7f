"""The register's rows (a part of the SQL store): vendors, projects, devices, their
keys, the adopted trust policy, the services' switches and the register's version.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.engine import Connection

from charter.domain.model import Device, Project, Vendor
from charter.store import schema as s
from charter.store.base import (
    DeviceKey,
)
from charter.store.upsert import upsert

# Built once: the statement every batch runs (the gate's and the services' version check).
_REGISTER_VERSION = select(s.register_version.c.version).where(s.register_version.c.id == 1)


class SqlRegistryTx:
    """Writes to the register; each marks the transaction as changing it."""

    # Mixed into SqlTx, which provides the connection.
    conn: Connection
    register_changed: bool

    def put_vendor(self, vendor: Vendor, at: int) -> None:
        self.register_changed = True
        upsert(
            self.conn,
            s.vendors,
            ("id",),
            {
                "id": vendor.id,
                "trust": vendor.trust.value,
                "doc": vendor.model_dump_json(),
                "updated_at": at,
            },
        )

    def put_project(self, project: Project, at: int) -> None:
        self.register_changed = True
        upsert(
            self.conn,
            s.projects,
            ("id",),
            {
                "id": project.id,
                "status": project.status.value,
                "doc": project.model_dump_json(),
                "updated_at": at,
            },
        )

    def put_device(self, device: Device, at: int) -> None:
        self.register_changed = True
        upsert(
            self.conn,
            s.devices,
            ("id",),
            {
                "id": device.id,
                "vendor_id": device.vendor_id,
                "project_id": device.project_id,
                "status": device.status.value,
                "doc": device.model_dump_json(),
                "updated_at": at,
            },
        )

    def put_device_key(self, key: DeviceKey) -> None:
        self.register_changed = True
        t = s.device_keys
        values = {
            "device_id": key.device_id,
            "key_id": key.key_id,
            "public_key": key.public_key,
            "not_before": key.not_before,
            "not_after": key.not_after,
            "revoked_at": key.revoked_at,
        }
        upsert(self.conn, t, ("device_id", "key_id"), values)

    def put_trust_policy(self, rules: str, fingerprint: str, at: int) -> None:
        values = {"id": 1, "rules": rules, "fingerprint": fingerprint, "adopted_at": at}
        upsert(self.conn, s.trust_policy, ("id",), values)

    def set_service_status(self, name: str, status: str, at: int) -> None:
        # A service host decides who runs at the register's version (services/host.py).
        self.register_changed = True
        values = {"name": name, "status": status, "changed_at": at}
        upsert(self.conn, s.service_states, ("name",), values)


class SqlRegistryStore:
    """Reads of the register."""

    # Mixed into SqlStore, which provides the engine and the reader.
    engine: Engine
    _rows: Callable[[Any], list[Any]]

    def get_vendor(self, vendor_id: str) -> Vendor | None:
        rows = self._rows(select(s.vendors.c.doc).where(s.vendors.c.id == vendor_id))
        return Vendor.model_validate_json(rows[0][0]) if rows else None

    def list_vendors(self) -> list[Vendor]:
        rows = self._rows(select(s.vendors.c.doc).order_by(s.vendors.c.id))
        return [Vendor.model_validate_json(r[0]) for r in rows]

    def get_project(self, project_id: str) -> Project | None:
        rows = self._rows(select(s.projects.c.doc).where(s.projects.c.id == project_id))
        return Project.model_validate_json(rows[0][0]) if rows else None

    def list_projects(self) -> list[Project]:
        rows = self._rows(select(s.projects.c.doc).order_by(s.projects.c.id))
        return [Project.model_validate_json(r[0]) for r in rows]

    def get_device(self, device_id: str) -> Device | None:
        rows = self._rows(select(s.devices.c.doc).where(s.devices.c.id == device_id))
        return Device.model_validate_json(rows[0][0]) if rows else None

    def list_devices(self, project_id: str | None = None) -> list[Device]:
        stmt = select(s.devices.c.doc).order_by(s.devices.c.id)
        if project_id is not None:
            stmt = stmt.where(s.devices.c.project_id == project_id)
        return [Device.model_validate_json(r[0]) for r in self._rows(stmt)]

    def read_register_version(self) -> int:
        rows = self._rows(_REGISTER_VERSION)  # read once per batch by gates and services
        return int(rows[0][0]) if rows else 0

    def read_trust_policy(self) -> str | None:
        """The adopted trust policy's rules (JSON), None if none was applied yet."""
        rows = self._rows(select(s.trust_policy.c.rules).where(s.trust_policy.c.id == 1))
        return str(rows[0][0]) if rows else None

    def device_keys(self, device_id: str) -> list[DeviceKey]:
        t = s.device_keys
        rows = self._rows(select(t).where(t.c.device_id == device_id).order_by(t.c.not_before))
        return [
            DeviceKey(r.device_id, r.key_id, r.public_key, r.not_before, r.not_after, r.revoked_at)
            for r in rows
        ]

    def disabled_services(self) -> list[str]:
        t = s.service_states
        rows = self._rows(select(t.c.name).where(t.c.status == "disabled").order_by(t.c.name))
        return [r.name for r in rows]
