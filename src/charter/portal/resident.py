"""The resident app: my consents, my data, who read it, my receipts, export and erase.

Every page is for one resident, signed in with their own token (pasted once, or
from the embedded issuer's sign-in flow) and calls the rights service the API and
the CLI call (`platform.rights`): a switch turned off here is a withdrawal in the
consent register, effective for the gate's very next reading. A resident's
session on another resident's pages gets the translated 403 page.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import JSONResponse, Response

from charter.auth import Role
from charter.bootstrap import Platform
from charter.domain.errors import CharterError, Invalid
from charter.domain.model import Actor
from charter.domain.reasons import Reason
from charter.portal import session
from charter.portal.catalog import N_
from charter.portal.session import Form
from charter.portal.web import page_router, redirect, render
from charter.rights.context import speaks_for

router = page_router(tags=["resident"])
Submitted = Annotated[Form, Depends(session.form)]

PAGE = 50  # rows per page of access history and receipts
ERASE_WORD = "ERASE"


def _platform(request: Request) -> Platform:
    p: Platform = request.app.state.platform
    return p


def _me(request: Request, resident_id: str) -> Actor:
    """The signed-in resident, and only on their own pages (FORBIDDEN otherwise)."""
    actor = session.require_role(Role.RESIDENT)(request)
    speaks_for(actor, resident_id)
    return actor


def _dated(rows: list[dict[str, Any]], *keys: str) -> list[dict[str, Any]]:
    """The service's ISO 8601 times as datetimes, for the locale's date format."""
    return [
        {**r, **{k: datetime.fromisoformat(r[k]) for k in keys if isinstance(r.get(k), str)}}
        for r in rows
    ]


def _page(request: Request) -> int:
    raw = request.query_params.get("page", "1")
    if not raw.isdigit() or not 1 <= int(raw) <= 1_000_000:
        raise Invalid(N_("page must be a whole number from 1"))
    return int(raw)


@router.get("/me")
def me(request: Request) -> Response:
    """Straight to my own pages, or to sign in."""
    actor = session.actor(request)
    if actor.role != Role.RESIDENT.value or not actor.subject:
        return redirect("/signin?next=/me")
    return redirect(f"/me/{actor.subject}")


@router.get("/me/{resident_id}")
def my_data(resident_id: str, request: Request) -> Response:
    actor = _me(request, resident_id)
    p = _platform(request)
    held = p.rights.subject.view(resident_id, actor)
    return render(
        request,
        "resident/data.html",
        {
            "rid": resident_id,
            "held": {
                **held,
                "resident": _dated([held["resident"]], "created_at")[0],
                "identifiers": _dated(held["identifiers"], "linked_at"),
            },
            "readings": _dated(held["readings"][-PAGE:][::-1], "observed_at"),
            "more_readings": max(0, len(held["readings"]) - PAGE),
            "active": "data",
        },
    )


@router.get("/me/{resident_id}/consents")
def my_consents(resident_id: str, request: Request) -> Response:
    actor = _me(request, resident_id)
    p = _platform(request)
    return render(
        request,
        "resident/consents.html",
        {
            "rid": resident_id,
            "choices": p.rights.choices.of(resident_id, actor),
            "consents": p.rights.consents.of(resident_id, actor),
            "done": request.query_params.get("done", ""),
            "active": "consents",
        },
    )


@router.post("/me/{resident_id}/consents")
def switch_consent(resident_id: str, request: Request, form: Submitted) -> Response:
    """Turn one switch on (a grant) or off (a withdrawal), through the consent register."""
    actor = _me(request, resident_id)
    choice = form.text("choice", max_length=400, required=True)
    turn = form.choice("turn", {"on", "off"})
    p = _platform(request)
    found = p.rights.choices.find(resident_id, choice, actor)
    if found is None:
        raise CharterError(Reason.VALIDATION_FAILED, N_("there is no such consent choice"))
    if turn == "on" and not found.on:
        p.rights.consents.grant(
            resident_id,
            category=found.category,
            purpose=found.purpose,
            projects=[found.project_id],
            actor=actor,
            method="portal",
        )
    elif turn == "off" and found.consent_id is not None:
        p.rights.consents.withdraw(resident_id, found.consent_id, actor)
    return redirect(f"/me/{resident_id}/consents?done={turn}")


@router.get("/me/{resident_id}/access")
def my_access(resident_id: str, request: Request) -> Response:
    actor = _me(request, resident_id)
    page = _page(request)
    p = _platform(request)
    rows, total = p.rights.subject.history_page(
        resident_id, actor, offset=(page - 1) * PAGE, limit=PAGE
    )
    return render(
        request,
        "resident/access.html",
        {
            "rid": resident_id,
            "rows": _dated(rows, "at"),
            "total": total,
            "page": page,
            "pages": max(1, -(-total // PAGE)),
            "active": "access",
        },
    )


@router.get("/me/{resident_id}/receipts")
def my_receipts(resident_id: str, request: Request) -> Response:
    actor = _me(request, resident_id)
    p = _platform(request)
    receipts: list[dict[str, Any]] = p.rights.subject.view(resident_id, actor)["receipts"]
    receipts = _dated(receipts[::-1], "at")
    return render(
        request,
        "resident/receipts.html",
        {"rid": resident_id, "receipts": receipts[:PAGE], "active": "receipts"},
    )


@router.get("/me/{resident_id}/export")
def my_export(resident_id: str, request: Request) -> Response:
    """Everything held about me as one JSON document (the API's export)."""
    actor = _me(request, resident_id)
    p = _platform(request)
    return JSONResponse(
        p.rights.subject.export(resident_id, actor),
        headers={"Content-Disposition": 'attachment; filename="charter-export.json"'},
    )


@router.get("/me/{resident_id}/erase")
def erase_confirm(resident_id: str, request: Request) -> Response:
    _me(request, resident_id)
    return render(
        request, "resident/erase.html", {"rid": resident_id, "word": ERASE_WORD, "active": "erase"}
    )


@router.post("/me/{resident_id}/erase")
def erase(resident_id: str, request: Request, form: Submitted) -> Response:
    """Erase me, once confirmed: my readings deleted, my key destroyed, my session ended."""
    actor = _me(request, resident_id)
    confirm = form.text("confirm", max_length=40)
    if confirm.strip().upper() != ERASE_WORD:
        raise Invalid(N_("type ERASE to confirm the erasure"))
    p = _platform(request)
    done = p.rights.subject.erase(resident_id, actor)
    response = render(request, "resident/erased.html", {"done": done, "active": "erase"})
    session.sign_out(request, response)
    return response
