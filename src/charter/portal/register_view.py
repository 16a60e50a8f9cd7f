"""The register as the portal's pages read it: devices, projects and vendors, parsed once
per register version.

Every transaction that writes the register bumps its version in the store, whichever
process made it (the gate's `DeviceDirectory` relies on the same), so a page reads that
one number and re-parses the register only when it moved: one truth, the store.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import msgspec
from starlette.requests import Request

from charter.bootstrap import Platform
from charter.domain.model import Device, Project, Vendor


@dataclass(frozen=True)
class Snapshot:
    version: int
    devices: tuple[Device, ...]
    projects: tuple[Project, ...]
    vendors: dict[str, Vendor]
    by_project: dict[str, int] = field(default_factory=dict)
    # What pages derive from this snapshot (e.g. the map's dots), kept with it.
    memo: dict[tuple[object, ...], object] = field(default_factory=dict, compare=False)

    @property
    def project_by_id(self) -> dict[str, Project]:
        return {p.id: p for p in self.projects}


class RegisterView:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None

    def get(self, platform: Platform) -> Snapshot:
        store = platform.store
        version = store.read_register_version()
        snap = self._snapshot
        if snap is not None and snap.version == version:
            return snap
        with self._lock:
            snap = self._snapshot
            if snap is not None and snap.version == version:
                return snap
            devices = tuple(store.list_devices())
            counts: dict[str, int] = {}
            for d in devices:
                counts[d.project_id] = counts.get(d.project_id, 0) + 1
            snap = Snapshot(
                version,
                devices,
                tuple(store.list_projects()),
                {v.id: v for v in store.list_vendors()},
                counts,
            )
            self._snapshot = snap
            return snap


def register(request: Request) -> Snapshot:
    """The register as it stands in the store now (parsed again only after a change)."""
    state = request.app.state
    view: RegisterView | None = getattr(state, "portal_register", None)
    if view is None:
        view = RegisterView()
        state.portal_register = view
    platform: Platform = state.platform
    return view.get(platform)


class SubjectIndex:
    """The ledger's entries by subject, read once: the ledger only grows, so each request
    reads just the entries appended since the last (from the store, by any process)."""

    CHUNK = 1000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scanned = 0
        self._by_subject: dict[str, list[dict[str, Any]]] = {}

    def about(self, platform: Platform, subject: str) -> list[dict[str, Any]]:
        store = platform.store
        size = store.ledger_size()
        if size > self._scanned:
            with self._lock:
                while self._scanned < size:
                    end = min(size, self._scanned + self.CHUNK)
                    for e in store.ledger_entries(self._scanned, end):
                        self._add(e.idx, e.at, e.kind, e.data)
                    self._scanned = end
        return list(self._by_subject.get(subject, ()))

    def _add(self, idx: int, at: int, kind: str, raw: bytes) -> None:
        data = msgspec.json.decode(raw)
        subject = data.get("subject") if isinstance(data, dict) else None
        if not isinstance(subject, str):
            return
        actor = data.get("actor") or {}
        self._by_subject.setdefault(subject, []).append(
            {
                "index": idx,
                "at": at,
                "kind": kind,
                "old": data.get("old"),
                "new": data.get("new"),
                "why": data.get("why"),
                "role": actor.get("role") if isinstance(actor, dict) else None,
                "changes": data.get("changes"),
                "title": data.get("title"),
            }
        )


def ledger_about(request: Request, subject: str) -> list[dict[str, Any]]:
    """The ledger's entries about `subject`, oldest first."""
    state = request.app.state
    index: SubjectIndex | None = getattr(state, "portal_subjects", None)
    if index is None:
        index = state.portal_subjects = SubjectIndex()
    platform: Platform = state.platform
    return index.about(platform, subject)
