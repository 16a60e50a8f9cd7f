"""The public register as data: JSON records, CSV tables and GeoJSON (RFC 7946).

Retired projects and revoked devices are included: the record is permanent.
Nothing here holds a commenter's name or contact, nor a device's key.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from shapely.geometry import mapping
from shapely.geometry.polygon import orient

from charter.domain.clock import iso
from charter.domain.consultation import Consultation, ConsultationKind, ConsultationStatus
from charter.domain.disclosure import Area
from charter.domain.disclosure_rules import device_record, polygon
from charter.domain.errors import NotFound
from charter.domain.model import Device, Project
from charter.store.base import Store


def consultation_record(store: Store, c: Consultation) -> dict[str, Any]:
    return {
        "id": c.id,
        "kind": c.kind.value,
        "status": c.status.value,
        "opened_at": iso(c.opened_at),
        "closes_at": iso(c.closes_at),
        "decided_at": iso(c.decided_at) if c.decided_at is not None else None,
        "decision_why": c.why or None,
        "changes": c.changes or None,
        "stances": store.stance_counts(c.id),
        "themes": [
            {
                "id": t.id,
                "title": t.title,
                "summary": t.summary,
                "response": t.response,
                "responded_at": iso(t.responded_at) if t.responded_at is not None else None,
            }
            for t in store.themes(c.id)
        ],
    }


def comment_records(store: Store, project_id: str, after: int, limit: int) -> list[dict[str, Any]]:
    """The public view of a project's comments: text, stance, theme; never who wrote them
    (names and contacts are kept in their own table and never read here)."""
    if store.get_project(project_id) is None:
        raise NotFound(project_id)
    limit = max(1, min(limit, 1000))
    out: list[dict[str, Any]] = []
    for c in store.consultations(project_id):
        for m in store.comments(c.id, after_id=after, limit=limit):
            out.append(
                {
                    "id": m.id,
                    "consultation": c.id,
                    "at": iso(m.at),
                    "stance": m.stance.value,
                    "text": m.text,
                    "theme": m.theme_id,
                }
            )
    return out[:limit]


def project_record(store: Store, project: Project, *, detail: bool = False) -> dict[str, Any]:
    """A project as the public sees it, with its consultations and any pending amendment."""
    consultations = store.consultations(project.id)
    pending = next(
        (c for c in reversed(consultations) if c.status is ConsultationStatus.OPEN), None
    )
    record: dict[str, Any] = project.model_dump(mode="json")
    record["devices"] = len(store.list_devices(project.id))
    record["consultation"] = consultation_record(store, pending) if pending else None
    if pending is not None and pending.kind is ConsultationKind.AMENDMENT:
        record["proposed_amendment"] = Project.model_validate_json(pending.proposal).model_dump(
            mode="json"
        )
    if detail:
        record["consultations"] = [consultation_record(store, c) for c in consultations]
    return record


def device_records(store: Store) -> list[tuple[Device, dict[str, Any]]]:
    projects = {p.id: p for p in store.list_projects()}
    out: list[tuple[Device, dict[str, Any]]] = []
    for d in store.list_devices():
        project = projects.get(d.project_id)
        if project is not None:
            out.append((d, device_record(d, project)))
    return out


# GeoJSON -------------------------------------------------------------------------


def _polygon_geometry(area: Area) -> dict[str, Any]:
    # RFC 7946 §3.1.6: exterior rings counter-clockwise, holes clockwise.
    geometry: dict[str, Any] = mapping(orient(polygon(area), sign=1.0))
    return {
        "type": "Polygon",
        "coordinates": [[list(p) for p in ring] for ring in geometry["coordinates"]],
    }


def devices_geojson(store: Store) -> dict[str, Any]:
    """Fixed devices as points, mobile ones as the region they move in."""
    features = []
    for d, record in device_records(store):
        geometry: dict[str, Any] | None = None
        if d.disclosure.mobile and d.disclosure.region is not None:
            geometry = _polygon_geometry(d.disclosure.region)
        elif d.location is not None:
            geometry = {"type": "Point", "coordinates": [d.location.lon, d.location.lat]}
        features.append({"type": "Feature", "id": d.id, "geometry": geometry, "properties": record})
    return {"type": "FeatureCollection", "features": features}


def projects_geojson(store: Store) -> dict[str, Any]:
    features = []
    for p in store.list_projects():
        area = p.disclosure.area if p.disclosure else None
        features.append(
            {
                "type": "Feature",
                "id": p.id,
                "geometry": _polygon_geometry(area) if area else None,
                "properties": {
                    "name": p.name,
                    "status": p.status.value,
                    "purpose": p.purpose,
                    "accountable_organisation": p.accountable_organisation,
                    "categories": [c.name for c in p.categories],
                },
            }
        )
    return {"type": "FeatureCollection", "features": features}


# CSV -----------------------------------------------------------------------------


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return "; ".join(_cell(v) for v in value)
    if isinstance(value, int | float):
        return str(value)
    text = str(value)
    # A spreadsheet must not run a text cell as a formula (CSV injection).
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def to_csv(rows: list[dict[str, Any]], columns: list[str]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return buf.getvalue()


PROJECT_COLUMNS = [
    "id",
    "name",
    "status",
    "purpose",
    "benefits",
    "accountable_organisation",
    "contact",
    "legal_basis",
    "vendors",
    "categories",
    "personal_data",
    "retention_days",
    "technologies",
    "capabilities",
    "privacy_statement",
    "impact_assessment",
    "devices",
    "consultation",
    "consultation_closes_at",
]


def projects_csv(store: Store) -> str:
    rows = []
    for p in store.list_projects():
        r = project_record(store, p)
        d = p.disclosure
        c = r["consultation"]
        rows.append(
            {
                **r,
                "vendors": p.vendor_ids,
                "categories": [c.name for c in p.categories],
                "personal_data": [c.name for c in p.categories if c.personal],
                "retention_days": [f"{c.name}={c.retention_days}" for c in p.categories],
                "contact": d.contact if d else None,
                "technologies": d.technologies if d else [],
                "capabilities": [c.value for c in d.capabilities] if d else [],
                "privacy_statement": d.privacy_statement if d else None,
                "impact_assessment": d.impact_assessment if d else None,
                "consultation": f"{c['kind']} {c['status']}" if c else None,
                "consultation_closes_at": c["closes_at"] if c else None,
            }
        )
    return to_csv(rows, PROJECT_COLUMNS)


DEVICE_COLUMNS = [
    "id",
    "owner",
    "project",
    "vendor",
    "technology",
    "capabilities",
    "mobile",
    "lat",
    "lon",
    "measures",
    "personal_data",
    "observation_goal",
    "legal_ground",
    "active_until",
    "status",
    "project_status",
]


def devices_csv(store: Store) -> str:
    rows = []
    for d, record in device_records(store):
        loc = d.location
        rows.append({**record, "lat": loc.lat if loc else None, "lon": loc.lon if loc else None})
    return to_csv(rows, DEVICE_COLUMNS)
