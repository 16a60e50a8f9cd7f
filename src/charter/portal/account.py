"""The pages every audience shares: the language switch, signing in and out."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Query, Request
from fastapi.responses import RedirectResponse, Response

from charter.domain.errors import CharterError
from charter.domain.reasons import Reason
from charter.portal import i18n, session
from charter.portal.session import Form
from charter.portal.web import HEADERS, page_router, redirect, render

router = page_router(tags=["portal"])


def safe_next(target: str | None) -> str:
    """Only a path on this site: never an open redirect."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or "\\" in target:
        return "/"
    return target[:2000]


@router.get("/lang/{code}")
def switch_language(
    code: str, request: Request, next: Annotated[str | None, Query(max_length=2000)] = None
) -> Response:
    """The language switch: remembered in a cookie, then back to the page."""
    if code not in i18n.LANGUAGES:
        raise CharterError(Reason.NOT_FOUND, "no such language")
    response = RedirectResponse(safe_next(next), status_code=303, headers=HEADERS)
    response.set_cookie(
        i18n.COOKIE,
        code,
        max_age=365 * 86400,
        path="/",
        samesite="strict",
        httponly=True,
        secure=session.secure(request),
    )
    return response


@router.get("/signin")
def signin_page(
    request: Request, next: Annotated[str | None, Query(max_length=2000)] = None
) -> Response:
    return render(request, "signin.html", {"next": safe_next(next)})


@router.post("/signin")
def signin(request: Request, form: Annotated[Form, Depends(session.form)]) -> Response:
    """Start a session with a token from the embedded issuer (or the city's provider)."""
    token = form.text("token", max_length=8000, required=True)
    target = safe_next(form.text("next", max_length=2000))
    response = redirect(target)
    session.sign_in(request, response, token)
    return response


@router.post("/signout")
def signout(request: Request, form: Annotated[Form, Depends(session.form)]) -> Response:
    response = redirect("/")
    session.sign_out(request, response)
    return response
