"""The web portal: server-rendered pages (Jinja2) for residents, council and operators.

Served by `charter serve` and `charter demo` at `/` (`mount(app)` in `charter.api.app`).
Pages work without JavaScript; the few scripts are files under `/static` (the
Content-Security-Policy allows no inline script or style and no other origin).

Writing a page module (the small API every page module uses)
-------------------------------------------------------------
    from typing import Annotated
    from fastapi import Depends, Request
    from charter.auth import Role
    from charter.domain.model import Actor
    from charter.portal.session import Form, form, require_role
    from charter.portal.web import page_router, redirect, render

    router = page_router()          # HTML error pages, out of the OpenAPI document

    @router.get("/me/consents")
    def consents(request: Request,
                 who: Annotated[Actor, Depends(require_role(Role.RESIDENT))]):
        return render(request, "resident/consents.html", {"items": ...})

    @router.post("/me/consents")
    def change(request: Request, f: Annotated[Form, Depends(form)],   # CSRF checked
               who: Annotated[Actor, Depends(require_role(Role.RESIDENT))]):
        p = request.app.state.platform   # then call the service layer, never the store
        ...
        return redirect("/me/consents")  # 303 after a POST

- `render(request, name, ctx, status_code=200)` renders `templates/<name>` in the
  request's language with the portal's headers (CSP) and sets the CSRF cookie.
  Templates extend `base.html` (`{% block title %}`, `{% block main %}`,
  `{% block scripts %}` for `<script src="/static/...">`), translate with
  `{{ _("...") }}` / `{% trans %}` and format with the filters `datetime`, `date`,
  `number`, `pct`, `reason` (a reason code's sentence). Every form has `{{ csrf_field() }}`.
- `require_role(*roles)` is the API's role rule (`charter.api.deps.require`) over the
  session's token: the public gets the 401 page (with a sign-in link), another
  role the 403 page. `session.actor(request)` is whoever is asking (public if nobody).
- Any `CharterError` raised by a service becomes the translated error page with its
  reason code and HTTP status; an unexpected error a 500 page, never a trace.
- Register the router in `ROUTERS` below (or call `app.include_router` in `mount`),
  add new msgids to the catalogues (`python -m charter.portal.catalog`), and
  document the route in docs/reference.md ("Portal pages").
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles

from charter.domain.reasons import Reason


def routers() -> list[APIRouter]:
    from charter.portal import account, public, public_algorithms, public_ledger, public_map

    found = [account.router, public.router, public_map.router, public_ledger.router,
             public_algorithms.router]  # fmt: skip
    # The resident app and the council/operator console, when present.
    for name in ("resident", "console"):
        try:
            module = __import__(f"charter.portal.{name}", fromlist=["router"])
        except ModuleNotFoundError as e:
            if e.name != f"charter.portal.{name}":
                raise
            continue
        found.append(module.router)
    return found


def refusal_page(scope: dict[str, Any], reason: Reason, status: int, detail: str) -> Any:
    """The translated error page for a request refused before it reached a route (a body
    over the size limit, or too slow): `api.body_limit` sends it to browsers."""
    from starlette.requests import Request

    from charter.portal import web

    return web.error_page(Request(scope), reason, detail, status)


def mount(app: FastAPI) -> None:
    """Serve the portal's pages at `/` and its files at `/static`."""
    from charter.portal import web

    for router in routers():
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=str(web.STATIC)), name="static")
    web.install_error_pages(app)
