"""The sensor map: every registered device in public space, drawn server-side as SVG over
the street network (no tiles, no CDN), with filters and a plain-language card per sensor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any

from fastapi import Query, Request
from fastapi.responses import Response
from markupsafe import Markup, escape

from charter.api.deps import platform as platform_of
from charter.domain.disclosure_rules import device_capabilities
from charter.domain.errors import NotFound
from charter.domain.model import DataCategory, Device, DeviceStatus, Project
from charter.portal import i18n, streets
from charter.portal.catalog import N_
from charter.portal.register_view import Snapshot, register
from charter.portal.web import language, page_router, render

router = page_router(tags=["portal"])

WIDTH = 1000.0
PAGE = 100
# Distinguishable on the map's light ground (each at least 4.5:1 against it).
PALETTE = ("#1f4e9c", "#b3261e", "#0b6e4f", "#8a4b00", "#6b2d91", "#00607a", "#5b5b00")
Filter = Annotated[str | None, Query(max_length=200)]

# Words of the register shown as data: marked here so the catalogues carry them.
WORDS = (
    N_("active"), N_("suspended"), N_("revoked"), N_("draft"), N_("consultation"),
    N_("approved"), N_("live"), N_("retired"), N_("trusted"), N_("untrusted"),
    N_("residents"), N_("city"), N_("vendor"), N_("third-parties"),
    N_("raw"), N_("aggregated"), N_("de-identified"), N_("differentially-private"),
    N_("k-anonymous"), N_("encrypted"),
)  # fmt: skip


@dataclass(frozen=True)
class Projection:
    """Longitude and latitude to the SVG's x and y (equirectangular at the map's latitude:
    true to scale at this size)."""

    lon0: float
    lat1: float
    k: float  # SVG units per degree of longitude
    ky: float
    height: float

    @classmethod
    def of(cls, bbox: tuple[float, float, float, float]) -> Projection:
        lon0, lat0, lon1, lat1 = bbox
        squash = math.cos(math.radians((lat0 + lat1) / 2))
        k = WIDTH / (lon1 - lon0)
        ky = k / squash
        return cls(lon0, lat1, k, ky, round((lat1 - lat0) * ky, 1))

    def xy(self, lon: float, lat: float) -> tuple[float, float]:
        return round((lon - self.lon0) * self.k, 1), round((self.lat1 - lat) * self.ky, 1)


@cache
def projection() -> Projection:
    return Projection.of(streets.load().bbox)


@cache
def street_paths() -> dict[str, str]:
    """One SVG path per street class (computed once: the extract does not change)."""
    proj = projection()
    parts: dict[str, list[str]] = {}
    for cls, pts in streets.load().streets:
        xy = [proj.xy(lon, lat) for lon, lat in pts]
        d = "M" + " L".join(f"{x:g} {y:g}" for x, y in xy)
        parts.setdefault(cls, []).append(d)
    return {cls: " ".join(ds) for cls, ds in parts.items()}


def colours(projects: list[Project]) -> dict[str, str]:
    return {p.id: PALETTE[i % len(PALETTE)] for i, p in enumerate(sorted(projects, key=_id))}


def _id(p: Project) -> str:
    return p.id


def kind_of(device: Device, project: Project | None) -> str:
    """Which icon stands for what a device senses."""
    words = " ".join([device.modality, *device.categories]).lower()
    for key, words_of in (
        ("air", ("air", "pm", "no2")),
        ("water", ("water", "flood", "level")),
        ("parking", ("parking", "bay")),
        ("fob", ("fob", "token", "card")),
        ("people", ("pedestrian", "people", "crossing")),
        ("traffic", ("traffic", "vehicle", "loop", "signal")),
        ("heat", ("heat", "sidewalk", "temperature")),
    ):
        if any(w in words for w in words_of):
            return key
    return "sensor"


def dots_svg(
    snap: Snapshot, lang: str, project: str | None, category: str | None, status: str | None
) -> tuple[Markup, int]:
    """The sensors' SVG links for one register snapshot, filter and language (built once
    per snapshot: the register changes rarely, and a map page is asked for often)."""
    key = ("dots", lang, project, category, status)
    found = snap.memo.get(key)
    if isinstance(found, tuple):
        return found
    made = _dots(snap, lang, project, category, status)
    if len(snap.memo) > 256:  # filters are free text: keep the memo bounded
        snap.memo.pop(next(iter(snap.memo)))
    snap.memo[key] = made
    return made


def _dots(
    snap: Snapshot, lang: str, project: str | None, category: str | None, status: str | None
) -> tuple[Markup, int]:
    by_id = snap.project_by_id
    colour = colours(list(snap.projects))
    proj = projection()
    lon0, lat0, lon1, lat1 = streets.load().bbox
    out: list[str] = []
    unplaced = 0
    with i18n.using(lang):
        for d in snap.devices:
            if (
                (project and d.project_id != project)
                or (category and category not in d.categories)
                or (status and d.status.value != status)
            ):
                continue
            loc = d.location
            if loc is None or not (lon0 <= loc.lon <= lon1 and lat0 <= loc.lat <= lat1):
                unplaced += 1
                continue
            x, y = proj.xy(loc.lon, loc.lat)
            p = by_id.get(d.project_id)
            c = colour.get(d.project_id, "#333333")
            label = (
                f"{p.name if p else d.project_id} · {d.modality} ({i18n.gettext(d.status.value)})"
            )
            hollow = d.status is not DeviceStatus.ACTIVE
            fill, extra = ("#ffffff", ' stroke-width="3"') if hollow else (c, "")
            out.append(
                f'<a href="/city/sensors/{escape(d.id)}" class="sensor"><title>{escape(label)}'
                f'</title><circle class="dot" cx="{x:g}" cy="{y:g}" r="4.5" fill="{fill}" '
                f'stroke="{c}"{extra}/></a>'
            )
    # Every value from the register in `out` was escaped above.
    return Markup("\n".join(out)), unplaced  # noqa: S704


@router.get("/map")
def sensor_map(
    request: Request,
    project: Filter = None,
    category: Filter = None,
    status: Filter = None,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> Response:
    """Every registered sensor in public space on the street map; filters by GET form."""
    snap = register(request)
    projects = list(snap.projects)
    by_id = snap.project_by_id
    devices = snap.devices
    categories = sorted({c.name for x in projects for c in x.categories})
    shown = [
        d
        for d in devices
        if (not project or d.project_id == project)
        and (not category or category in d.categories)
        and (not status or d.status.value == status)
    ]
    colour = colours(projects)
    dots, unplaced = dots_svg(snap, language(request), project, category, status)
    proj = projection()
    pages = max(1, math.ceil(len(shown) / PAGE))
    page = min(page, pages)
    rows = shown[(page - 1) * PAGE : page * PAGE]
    return render(
        request,
        "public/map.html",
        {
            "projects": sorted(projects, key=_id),
            "by_id": by_id,
            "categories": categories,
            "statuses": [s.value for s in DeviceStatus],
            "selected": {"project": project, "category": category, "status": status},
            "dots": dots,
            "unplaced": unplaced,
            "total": len(devices),
            "count": len(shown),
            "rows": rows,
            "page": page,
            "pages": pages,
            "colour": colour,
            "width": WIDTH,
            "height": proj.height,
            "streets": street_paths(),
            "attribution": streets.load().attribution,
            "kind_of": kind_of,
            "query_for": lambda n: _query(project, category, status, n),
        },
    )


def _query(project: str | None, category: str | None, status: str | None, page: int) -> str:
    from urllib.parse import urlencode

    q = {k: v for k, v in (("project", project), ("category", category), ("status", status)) if v}
    q["page"] = str(page)
    return "?" + urlencode(q)


def card(device: Device, project: Project, vendor_name: str, trust: str) -> dict[str, Any]:
    """The plain-language card of a sensor, in the words the register holds."""
    cats: list[DataCategory] = [c for c in project.categories if c.name in device.categories]
    disclosure = project.disclosure
    d = device.disclosure
    return {
        "device": device,
        "project": project,
        "kind": kind_of(device, project),
        "senses": [
            {
                "name": c.name,
                "description": c.description,
                "collected": c.disclosure.collected if c.disclosure else None,
                "fields": sorted(c.fields),
                "personal": c.personal,
                "retention_days": c.retention_days,
                "processing": [x.value for x in c.disclosure.processing] if c.disclosure else [],
                "access": [x.value for x in c.disclosure.access] if c.disclosure else [],
                "third_parties": list(c.disclosure.third_parties) if c.disclosure else [],
                "storage": c.disclosure.storage if c.disclosure else None,
            }
            for c in cats
        ],
        "why": d.observation_goal or project.purpose,
        "accountable": d.owner or project.accountable_organisation,
        "contact": disclosure.contact if disclosure else None,
        "legal_basis": project.legal_basis,
        "personal": any(c.personal for c in cats),
        "retention_days": max((c.retention_days for c in cats), default=None),
        "capabilities": [c.value for c in device_capabilities(device, project)],
        "vendor": vendor_name,
        "trust": trust,
        "active_until": d.active_until,
        "mobile": d.mobile,
    }


@router.get("/city/sensors/{device_id}")
def sensor(device_id: str, request: Request) -> Response:
    """One sensor's card: what it senses, why, who is accountable, retention, access."""
    p = platform_of(request)
    device = p.store.get_device(device_id)
    project = p.store.get_project(device.project_id) if device else None
    if device is None or project is None:
        raise NotFound(device_id)
    vendor = register(request).vendors.get(device.vendor_id)
    return render(
        request,
        "public/sensor.html",
        {
            "c": card(
                device,
                project,
                vendor.name if vendor else device.vendor_id,
                vendor.trust.value if vendor else "untrusted",
            )
        },
    )
