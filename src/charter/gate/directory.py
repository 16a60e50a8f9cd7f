"""The gate's view of the register: per device, what it takes to judge its envelopes.

Loaded lazily from the store, so the hot path never parses a registry document,
and cleared when the register changes, whichever process changed it: every
transaction that writes vendors, projects, devices or device keys bumps the
register's version in the store (`SqlTx.finish`), and the gate reads that
version once per batch (`refresh`) and empties this directory when it moved.
A change committed by any process therefore applies from the next batch any
gate begins; a batch already being decided when it committed is decided on
the view it began with (docs/scaling.md, "State each process keeps").
"""

from __future__ import annotations

import base64
import math
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from charter.domain.clock import to_ms
from charter.domain.model import (
    DataCategory,
    DeviceStatus,
    ProjectStatus,
    TrustStatus,
)
from charter.store.base import Store

_NUMBER = (int, float)
_TYPES: dict[str, tuple[type, ...]] = {
    "number": _NUMBER,
    "integer": (int,),
    "string": (str,),
    "boolean": (bool,),
}


@dataclass(frozen=True, slots=True)
class FieldRule:
    types: tuple[type, ...]
    unit: str | None
    minimum: float
    maximum: float
    max_length: int
    numeric: bool


@dataclass(frozen=True, slots=True)
class CategoryRule:
    name: str
    personal: bool
    fields: dict[str, FieldRule]
    identifier: str | None = None  # the field naming the person (personal data)
    retention_days: int = 1  # how long the project keeps it (and the quarantine a copy)

    @classmethod
    def of(cls, c: DataCategory) -> CategoryRule:
        return cls(
            name=c.name,
            personal=c.personal,
            fields={
                name: FieldRule(
                    types=_TYPES[f.type],
                    unit=f.unit,
                    minimum=-math.inf if f.minimum is None else f.minimum,
                    maximum=math.inf if f.maximum is None else f.maximum,
                    max_length=f.max_length,
                    numeric=f.type in ("number", "integer"),
                )
                for name, f in c.fields.items()
            },
            identifier=c.identifier,
            retention_days=c.retention_days,
        )


@dataclass(frozen=True, slots=True)
class KeyView:
    """One public key of a device and when its overlap ends (ms).

    Revocation and enrolment are states, not times: a revoked key is revoked at
    once and for good, and a key on the register may sign from the moment it is
    there, whatever the wall clock says (a revocation or rotation stamped while
    the clock was ahead must not be undone, or refused, by a step back). Only
    the end of a rotation's overlap (`not_after`) is a time. `not_before` is
    kept for the record only.
    """

    key_id: str
    public_key: Ed25519PublicKey
    not_before: int
    not_after: int | None
    revoked_at: int | None

    def state(self, now_ms: int) -> str:
        """valid, revoked or expired at now_ms."""
        if self.revoked_at is not None:
            return "revoked"
        if self.not_after is not None and now_ms >= self.not_after:
            return "expired"
        return "valid"


@dataclass(slots=True)
class DeviceView:
    id: str
    public_key: Ed25519PublicKey
    status: DeviceStatus
    vendor_trusted: bool
    project_id: str
    project_live: bool
    declared: dict[str, CategoryRule]  # what the project declared
    allowed: frozenset[str]  # what this device may send
    last_seq: int
    # Keys from the rotation history; empty: only the enrolment key above.
    keys: tuple[KeyView, ...] = ()
    # The register's "active until" date, as the first millisecond after it (UTC).
    active_until_ms: int | None = None


def _end_of(day: date | None) -> int | None:
    """The first millisecond after `day` (UTC): the register's end date is inclusive.

    The calendar's last day has no day after it: it means no end (and must not
    make the gate fail on every batch that holds the device's envelopes)."""
    if day is None or day == date.max:
        return None
    return to_ms(datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC))


class DeviceDirectory:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._views: dict[str, DeviceView] = {}
        self._personal: dict[str, bool] | None = None
        self._lock = threading.Lock()
        self.version = store.read_register_version()

    def invalidate(self) -> None:
        """Forget every view; the version is read first, so what loads after is at least as new."""
        version = self._store.read_register_version()
        with self._lock:
            self._views.clear()
            self._personal = None
            self.version = version

    def refresh(self) -> None:
        """Once per batch: one read of the register's version; empty the views if it moved."""
        if self._store.read_register_version() != self.version:
            self.invalidate()

    def get(self, device_id: str) -> DeviceView | None:
        views = self._views
        if device_id in views:
            return views[device_id]
        view = self._load(device_id)
        if view is not None:
            # Unknown ids are not cached: a stranger sending random ids must
            # not be able to grow this map without bound.
            with self._lock:
                self._views[device_id] = view
        return view

    def _load(self, device_id: str) -> DeviceView | None:
        device = self._store.get_device(device_id)
        if device is None:
            return None
        project = self._store.get_project(device.project_id)
        vendor = self._store.get_vendor(device.vendor_id)
        declared = {c.name: CategoryRule.of(c) for c in project.categories} if project else {}
        return DeviceView(
            id=device.id,
            public_key=Ed25519PublicKey.from_public_bytes(base64.b64decode(device.public_key)),
            status=device.status,
            vendor_trusted=(
                vendor is not None
                and vendor.trust is TrustStatus.TRUSTED
                and not device.trust_reasons
            ),
            project_id=device.project_id,
            project_live=project is not None and project.status is ProjectStatus.LIVE,
            declared=declared,
            allowed=frozenset(device.categories),
            last_seq=self._store.device_seq(device_id),
            keys=tuple(
                KeyView(
                    k.key_id,
                    Ed25519PublicKey.from_public_bytes(base64.b64decode(k.public_key)),
                    k.not_before,
                    k.not_after,
                    k.revoked_at,
                )
                for k in self._store.device_keys(device_id)
            ),
            active_until_ms=_end_of(device.disclosure.active_until),
        )

    def may_be_personal(self, category: str) -> bool:
        """True unless every project that declares `category` calls it non-personal.

        An unknown category counts as personal: what the gate cannot classify it
        does not keep.
        """
        personal = self._personal
        if personal is None:
            personal = {}
            for project in self._store.list_projects():
                for c in project.categories:
                    personal[c.name] = personal.get(c.name, False) or c.personal
            with self._lock:
                self._personal = personal
        return personal.get(category, True)

    def committed(self, seqs: dict[str, int]) -> None:
        """Sequence numbers that are now in the store."""
        for device_id, seq in seqs.items():
            view = self._views.get(device_id)
            if view is not None and seq > view.last_seq:
                view.last_seq = seq
