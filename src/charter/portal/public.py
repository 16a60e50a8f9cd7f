"""The public pages: no account needed, populated from the register and the ledger.

Projects (purpose, benefits, data practices, status and history), consultations with
the comment form (through the register's consultation service), the transparency
report and the register's downloads. The map is `public_map`, the ledger `public_ledger`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.responses import Response

from charter.api.deps import platform as platform_of
from charter.bootstrap import Platform
from charter.domain.clock import to_ms
from charter.domain.consultation import Consultation, ConsultationStatus, Stance
from charter.domain.errors import NotFound
from charter.domain.model import Project
from charter.portal import public_algorithms, session
from charter.portal.catalog import N_
from charter.portal.register_view import ledger_about, register
from charter.portal.session import Form
from charter.portal.web import page_router, redirect, render
from charter.report.transparency import NOT_RECORDED, compute, rights_of

router = page_router(tags=["portal"])

WORDS = (
    N_("support"), N_("oppose"), N_("comment"), N_("open"), N_("rejected"),
    N_("withdrawn"), N_("initial"), N_("amendment"),
)  # fmt: skip
HISTORY_SHOWN = 200
COMMENTS_SHOWN = 100


@router.get("/")
def home(request: Request) -> Response:
    p = platform_of(request)
    snap = register(request)
    projects = snap.projects
    return render(
        request,
        "home.html",
        {
            "devices": len(snap.devices),
            "projects": len(projects),
            "open_consultations": sum(
                1 for x in projects if p.registry.lifecycle.open_for(x.id) is not None
            ),
        },
    )


def _project(p: Platform, project_id: str) -> Project:
    project = p.store.get_project(project_id)
    if project is None:
        raise NotFound(project_id)
    return project


def history(request: Request, subject: str, limit: int = HISTORY_SHOWN) -> list[dict[str, Any]]:
    """The ledger's entries about `subject`, newest first: each change, who, why, when."""
    return list(reversed(ledger_about(request, subject)))[:limit]


@router.get("/city/projects")
def projects(request: Request) -> Response:
    snap = register(request)
    items = sorted(snap.projects, key=lambda x: (x.status.value != "live", x.name))
    counts = {x.id: snap.by_project.get(x.id, 0) for x in items}
    return render(request, "public/projects.html", {"items": items, "devices": counts})


@router.get("/city/projects/{project_id}")
def project_page(project_id: str, request: Request) -> Response:
    """Purpose, benefits, data practices, status and the project's history from the ledger."""
    p = platform_of(request)
    project = _project(p, project_id)
    vendors = [p.store.get_vendor(v) for v in project.vendor_ids]
    return render(
        request,
        "public/project.html",
        {
            "project": project,
            "vendors": [v for v in vendors if v is not None],
            "devices": register(request).by_project.get(project.id, 0),
            "consultations": p.store.consultations(project.id),
            "open": p.registry.lifecycle.open_for(project.id),
            "history": history(request, project.id),
            "algorithms": public_algorithms.of_project(p, project.id),
        },
    )


@router.get("/city/consultations")
def consultations(request: Request) -> Response:
    p = platform_of(request)
    now = to_ms(p.clock.now())
    found: list[tuple[Project, Consultation, bool]] = []
    for x in p.store.list_projects():
        for c in p.store.consultations(x.id):
            taking = c.status is ConsultationStatus.OPEN and not c.has_ended(now)
            found.append((x, c, taking))
    found.sort(key=lambda r: (not r[2], r[1].status.value != "open", -r[1].opened_at))
    rows = [{"project": x, "c": c, "taking": taking} for x, c, taking in found]
    return render(request, "public/consultations.html", {"rows": rows})


def consultation_context(p: Platform, project: Project) -> dict[str, Any]:
    now = to_ms(p.clock.now())
    all_ = p.store.consultations(project.id)
    current = p.registry.lifecycle.open_for(project.id) or (all_[-1] if all_ else None)
    themes = p.store.themes(current.id) if current else []
    comments = p.store.comments(current.id, limit=COMMENTS_SHOWN) if current else []
    titles = {t.id: t.title for t in themes}
    return {
        "project": project,
        "c": current,
        "past": [c for c in all_ if current is None or c.id != current.id],
        "taking": current is not None
        and current.status is ConsultationStatus.OPEN
        and not current.has_ended(now),
        "stances": p.store.stance_counts(current.id) if current else {},
        "themes": themes,
        "comments": comments,
        "titles": titles,
        "max_chars": p.registry.rules.comment_max_chars,
        "per_hour": p.registry.rules.comments_per_hour,
        "stance_options": [s.value for s in Stance],
    }


@router.get("/city/consultations/{project_id}")
def consultation(
    project_id: str,
    request: Request,
    sent: Annotated[int, Query(ge=0, le=1)] = 0,
) -> Response:
    """The consultation: the comment form, themes, "you said, we did", the decision."""
    p = platform_of(request)
    ctx = consultation_context(p, _project(p, project_id))
    return render(request, "public/consultation.html", {**ctx, "sent": bool(sent)})


@router.post("/city/consultations/{project_id}/comments")
def post_comment(
    project_id: str, request: Request, form: Annotated[Form, Depends(session.form)]
) -> Response:
    """A comment through the register's consultation service (its limits, its rate limit);
    a refusal is the error page and nothing is stored."""
    p = platform_of(request)
    _project(p, project_id)
    text = form.text("text", max_length=p.registry.rules.comment_max_chars)
    stance = Stance(form.choice("stance", {s.value for s in Stance}, Stance.COMMENT.value))
    name = form.text("name", max_length=200).strip() or None
    contact = form.text("contact", max_length=200).strip() or None
    address = request.client.host if request.client else "unknown"
    p.registry.feedback.comment(project_id, text, stance, address, name=name, contact=contact)
    return redirect(f"/city/consultations/{project_id}?sent=1#thanks")


@router.get("/city/transparency")
def transparency(
    request: Request, project: Annotated[str | None, Query(max_length=200)] = None
) -> Response:
    """The transparency report with its plots, city-wide or for one project."""
    p = platform_of(request)
    report = compute(p.store, p.ledger, project or None, rights_of(p))
    return render(
        request,
        "public/transparency.html",
        {
            "r": report,
            "projects": sorted(p.store.list_projects(), key=lambda x: x.name),
            "selected": project,
            "not_recorded": NOT_RECORDED,
            "bars": bars,
            "keys_of": lambda d: sorted({k for row in d.values() for k in row}),
        },
    )


def bars(data: dict[str, int], width: int = 640) -> dict[str, Any]:
    """A horizontal bar chart's geometry (drawn as SVG in the template, no script)."""
    items = sorted(data.items(), key=lambda kv: -kv[1])[:20]
    top = max((v for _, v in items), default=0) or 1
    label_w, bar_w, row_h = 260, width - 260 - 70, 26
    return {
        "width": width,
        "height": row_h * max(1, len(items)) + 8,
        "rows": [
            {
                "label": k,
                "value": v,
                "y": 4 + i * row_h,
                "w": round(bar_w * v / top, 1),
                "x": label_w,
            }
            for i, (k, v) in enumerate(items)
        ],
        "label_w": label_w,
        "row_h": row_h,
    }


@router.get("/city/downloads")
def downloads(request: Request) -> Response:
    """The register's downloads: projects and devices as JSON, CSV and GeoJSON."""
    return render(request, "public/downloads.html", {})
