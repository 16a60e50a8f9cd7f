"""The portal's plumbing: templates, `render`, page routers, error pages, headers.

A page module makes its router with `page_router()` and renders with
`render(request, "name.html", {...})`; see `charter.portal` for the whole recipe.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from charter import __version__
from charter.api.problems import STATUS
from charter.domain.errors import CharterError
from charter.domain.reasons import Reason
from charter.portal import i18n, session

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

# Scripts and styles only from Charter itself, no inline script or style, no plugins,
# no framing; forms post only back to Charter.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}

# Main navigation: (path, msgid). Other page modules may append (see charter.portal).
NAV: list[tuple[str, str]] = [
    ("/", "Home"),
    ("/map", "Sensor map"),
    ("/city/projects", "Projects"),
    ("/city/algorithms", "Algorithms"),
    ("/city/consultations", "Consultations"),
    ("/city/transparency", "Transparency report"),
    ("/city/ledger", "Public ledger"),
]


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(["html", "svg", "xml"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_callables(  # type: ignore[attr-defined]
        i18n.gettext, i18n.ngettext, newstyle=True
    )
    env.filters.update(
        datetime=i18n.format_datetime,
        date=i18n.format_date,
        iso=i18n.format_iso,
        number=i18n.format_number,
        pct=i18n.format_pct,
        reason=i18n.reason_sentence,
        tr=i18n.gettext,  # data words (statuses, roles): translated, still escaped
    )
    env.globals.update(
        languages=i18n.LANGUAGES,
        version=__version__,
        nav=NAV,
        reason_sentence=i18n.reason_sentence,
    )
    return env


def language(request: Request) -> str:
    """The request's language: `?lang=`, the switch's cookie, Accept-Language, English."""
    lang: str | None = getattr(request.state, "lang", None)
    if lang is None:
        lang = i18n.choose(
            request.query_params.get("lang"),
            request.cookies.get(i18n.COOKIE),
            request.headers.get("accept-language", ""),
        )
        request.state.lang = lang
    return lang


def csrf_field(request: Request) -> Markup:
    """The hidden CSRF input every POST form carries (templates: `{{ csrf_field() }}`)."""
    token = session.csrf_token(request)
    return Markup('<input type="hidden" name="{}" value="{}">').format(session.CSRF_FIELD, token)


def render_text(request: Request, name: str, ctx: Mapping[str, Any] | None = None) -> str:
    lang = language(request)
    with i18n.using(lang):
        template = environment().get_template(name)
        try:
            who = session.actor(request)
        except CharterError:
            who = None
        return template.render(
            request=request,
            lang=lang,
            path=request.url.path,
            query=str(request.url.query),
            actor=who,
            signed_in=who is not None and who.role != "public",
            csrf_field=lambda: csrf_field(request),
            **dict(ctx or {}),
        )


def render(
    request: Request,
    name: str,
    ctx: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
) -> HTMLResponse:
    """A page: the template rendered in the request's language, with the portal's headers
    (CSP and friends) and the CSRF cookie its forms need."""
    body = render_text(request, name, ctx)
    response = HTMLResponse(body, status_code=status_code, headers=HEADERS)
    session.set_csrf_cookie(request, response)
    lang = request.query_params.get("lang")
    if lang in i18n.LANGUAGES and request.cookies.get(i18n.COOKIE) != lang:
        response.set_cookie(
            i18n.COOKIE,
            str(lang),
            max_age=365 * 86400,
            path="/",
            samesite="strict",
            httponly=True,
            secure=session.secure(request),
        )
    return response


def redirect(url: str) -> RedirectResponse:
    """After a successful POST: see the result with a GET (303)."""
    return RedirectResponse(url, status_code=303, headers=HEADERS)


# --- error pages -------------------------------------------------------------------------


def error_page(
    request: Request, reason: Reason, detail: str = "", status: int | None = None
) -> Response:
    code = status or STATUS.get(reason, 422)
    response = render(
        request,
        "error.html",
        {"status": code, "reason": reason, "detail": detail},
        status_code=code,
    )
    if reason is Reason.RATE_LIMITED:
        response.headers["Retry-After"] = "1"
    return response


_BY_STATUS = {
    400: Reason.VALIDATION_FAILED,
    401: Reason.UNAUTHENTICATED,
    403: Reason.FORBIDDEN,
    404: Reason.NOT_FOUND,
    405: Reason.METHOD_NOT_ALLOWED,
    413: Reason.REQUEST_TOO_LARGE,
    422: Reason.VALIDATION_FAILED,
    429: Reason.RATE_LIMITED,
}


def _detail(exc: CharterError) -> str:
    # A NotFound keeps what was asked for off its detail; so does the page.
    return exc.detail if exc.detail != exc.reason.sentence else ""


class PortalRoute(APIRoute):
    """A page route: every refusal or failure becomes the translated error page.

    Never a stack trace: an unexpected error is logged (without the request's data)
    and the page says only that something went wrong."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page(request: Request) -> Response:
            try:
                return await handler(request)
            except CharterError as exc:
                return error_page(request, exc.reason, _detail(exc))
            except RequestValidationError:
                return error_page(request, Reason.VALIDATION_FAILED, "", 422)
            except StarletteHTTPException as exc:
                reason = _BY_STATUS.get(exc.status_code, Reason.VALIDATION_FAILED)
                return error_page(request, reason, "", exc.status_code)
            except Exception as exc:
                log.exception("portal page %s failed: %s", request.url.path, type(exc).__name__)
                return render(
                    request, "error.html", {"status": 500, "reason": None}, status_code=500
                )

        return page


def page_router(**kwargs: Any) -> APIRouter:
    """A router for portal pages: HTML error pages, kept out of the API's OpenAPI document."""
    return APIRouter(route_class=PortalRoute, include_in_schema=False, **kwargs)


def wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def install_error_pages(app: FastAPI) -> None:
    """A browser that asks for a page that does not exist gets the portal's error page;
    API clients keep their problem+json."""
    api_handler = app.exception_handlers[StarletteHTTPException]

    async def handler(request: Request, exc: Exception) -> Response:
        if isinstance(exc, StarletteHTTPException) and wants_html(request):
            reason = _BY_STATUS.get(exc.status_code, Reason.VALIDATION_FAILED)
            return error_page(request, reason, "", exc.status_code)
        result = api_handler(request, exc)
        if hasattr(result, "__await__"):
            result = await result
        assert isinstance(result, Response)
        return result

    app.exception_handlers[StarletteHTTPException] = handler
