"""The public pages: no account needed, populated from the register and the ledger."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from charter.api.deps import platform as platform_of
from charter.portal.web import page_router, render

router = page_router(tags=["portal"])


@router.get("/")
def home(request: Request) -> Response:
    p = platform_of(request)
    projects = p.store.list_projects()
    return render(
        request,
        "home.html",
        {
            "devices": len(p.store.list_devices()),
            "projects": len(projects),
            "open_consultations": sum(
                1 for x in projects if p.registry.lifecycle.open_for(x.id) is not None
            ),
        },
    )
