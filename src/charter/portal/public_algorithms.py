"""The public algorithm register: each city service that acts on the data, beside its project.

The fields of the Amsterdam and Helsinki registers (purpose, data used, how it decides,
human oversight, risks and their mitigation, measured figures, who is accountable), read
from the register (`AlgorithmRegister`), and whether the service is switched off by the
two-person rule (`registry.services`).
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response

from charter.api.deps import platform as platform_of
from charter.bootstrap import Platform
from charter.domain.algorithm import AlgorithmEntry
from charter.portal.web import page_router, render

router = page_router(tags=["portal"])


def of_project(p: Platform, project_id: str) -> list[AlgorithmEntry]:
    """The algorithms a project runs, by name (the project page lists them)."""
    return sorted(
        (a for a in p.algorithms.list() if a.project_id == project_id), key=lambda a: a.name
    )


def _projects(p: Platform, entries: list[AlgorithmEntry]) -> dict[str, Any]:
    found = {a.project_id: p.store.get_project(a.project_id) for a in entries}
    return {k: v for k, v in found.items() if v is not None}


@router.get("/city/algorithms")
def algorithms(request: Request) -> Response:
    p = platform_of(request)
    entries = sorted(p.algorithms.list(), key=lambda a: a.name)
    disabled = set(p.registry.services.all_disabled())
    return render(
        request,
        "public/algorithms.html",
        {"items": entries, "projects": _projects(p, entries), "disabled": disabled},
    )


@router.get("/city/algorithms/{service}")
def algorithm(service: str, request: Request) -> Response:
    p = platform_of(request)
    entry = p.algorithms.get(service)  # NotFound: the translated 404 page
    project = p.store.get_project(entry.project_id)
    categories = {c.name: c for c in project.categories} if project else {}
    return render(
        request,
        "public/algorithm.html",
        {
            "a": entry,
            "project": project,
            "categories": categories,
            "disabled": p.registry.services.disabled(entry.service),
        },
    )
