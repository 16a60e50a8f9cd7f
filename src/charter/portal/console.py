"""The operator and council console: quarantine, trust, consultations, two-person actions,
live services.

Role-gated: operators, the council and auditors see it; the public role (no session)
and residents get the translated 403 page. Each form calls the service the API and
the CLI call, so every rule (who may replay, who decides, who may approve whose
proposal) is the service's, checked once: the quarantine (`platform.quarantine`),
the trust policy (`security.trust`), the consultation (`registry.feedback`,
`registry.decide`), the two-person rule (`security.approvals`) and the services'
overview (`services.overview`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import Response

from charter.api import deps
from charter.auth import Role
from charter.bootstrap import Platform
from charter.domain.consultation import Verdict
from charter.domain.errors import CharterError, Invalid, NotFound
from charter.domain.model import Actor, ProjectStatus
from charter.domain.reasons import Reason
from charter.portal import session
from charter.portal.catalog import N_
from charter.portal.session import Form
from charter.portal.web import page_router, redirect, render
from charter.security.approvals import RULES, ActionKind
from charter.services.overview import overview

router = page_router(tags=["console"])

# Words the console shows through variables, for the catalogues: quarantine and
# device statuses, project statuses, service states, stances, actions and results.
WORDS = (
    N_("held"),
    N_("replayed"),
    N_("released"),
    N_("purged"),
    N_("active"),
    N_("suspended"),
    N_("revoked"),
    N_("draft"),
    N_("consultation"),
    N_("approved"),
    N_("live"),
    N_("retired"),
    N_("rejected"),
    N_("running"),
    N_("disabled"),
    N_("not running"),
    N_("degraded"),
    N_("unknown"),
    N_("support"),
    N_("oppose"),
    N_("comment"),
    N_("pending"),
    N_("refused"),
    N_("used"),
    N_("expired"),
    N_("failed"),
    N_("admitted"),
    N_("revoke_vendor_fleet"),
    N_("disable_service"),
    N_("enable_service"),
    N_("rotate_ledger_key"),
    N_("mass_erasure"),
    N_("bulk_read"),
    N_("fob"),
    N_("app"),
    N_("vehicle"),
    N_("card"),
    N_("other"),
)

STAFF = (Role.OPERATOR, Role.COUNCIL, Role.AUDITOR)
PAGE = 50
MAX_ID = 2**63 - 1
Submitted = Annotated[Form, Depends(session.form)]


def _platform(request: Request) -> Platform:
    p: Platform = request.app.state.platform
    return p


def _staff(request: Request, *roles: Role) -> Actor:
    """The signed-in staff member, if their role may open the page. The public and
    residents are FORBIDDEN (the translated 403 page); the roles are the API's rule."""
    actor = session.actor(request)
    allowed = roles or STAFF
    if actor.role == Role.PUBLIC.value:
        raise CharterError(Reason.FORBIDDEN, N_("sign in as a member of staff to open the console"))
    return deps.require(*allowed)(actor)


def _why(form: Form) -> str:
    return form.text("why", max_length=2000, required=True)


def _page(request: Request) -> int:
    raw = request.query_params.get("page", "1")
    if not raw.isdigit() or not 1 <= int(raw) <= 1_000_000:
        raise Invalid(N_("page must be a whole number from 1"))
    return int(raw)


@router.get("/console")
def home(request: Request) -> Response:
    _staff(request)
    p = _platform(request)
    return render(
        request,
        "console/home.html",
        {
            "held": p.store.count_quarantine("held"),
            "pending": len(p.security.approvals.list("pending")),
            "consulting": [
                x for x in p.store.list_projects() if x.status is ProjectStatus.CONSULTATION
            ],
            "services": overview(p.store, p.algorithms),
            "active": "home",
        },
    )


# --- quarantine -------------------------------------------------------------------


@router.get("/console/quarantine")
def quarantine(request: Request) -> Response:
    _staff(request, Role.OPERATOR, Role.AUDITOR)
    p = _platform(request)
    status = request.query_params.get("status", "held")
    if status not in ("held", "replayed", "released", "purged"):
        raise Invalid(N_("status must be held, replayed, released or purged"))
    items = p.quarantine.list(status=status, limit=PAGE)
    return render(
        request,
        "console/quarantine.html",
        {
            "items": [(q, p.quarantine.shown(q)) for q in items],
            "status": status,
            "held": p.store.count_quarantine("held"),
            "done": request.query_params.get("done", ""),
            "active": "quarantine",
        },
    )


@router.post("/console/quarantine/{item_id}/replay")
def replay(item_id: int, request: Request, form: Submitted) -> Response:
    actor = _staff(request, Role.OPERATOR)
    why = _why(form)
    override = form.choice("override", {"", "freshness"}, default="")
    if not 1 <= item_id <= MAX_ID:
        raise NotFound(f"quarantine item {item_id}")
    p = _platform(request)
    outcome = p.quarantine.replay(item_id, actor, why, override or None)
    if outcome.admitted:
        verdict = "admitted"
    elif outcome.rejection is not None:
        verdict = outcome.rejection.reason.value
    else:
        verdict = next(iter(outcome.rejected), "refused")
    return redirect(f"/console/quarantine?done={item_id}:{verdict}")


# --- trust ------------------------------------------------------------------------


@router.get("/console/trust")
def trust(request: Request) -> Response:
    _staff(request)
    p = _platform(request)
    page = _page(request)
    show = request.query_params.get("show", "failing")
    if show not in ("failing", "all"):
        raise Invalid(N_("show must be failing or all"))
    verdicts = p.security.trust.check()
    vendors = [v for v in verdicts if v.kind == "vendor"]
    devices = [v for v in verdicts if v.kind == "device" and (show == "all" or not v.passes)]
    start = (page - 1) * PAGE
    return render(
        request,
        "console/trust.html",
        {
            "vendors": vendors,
            "devices": devices[start : start + PAGE],
            "total": len(devices),
            "page": page,
            "pages": max(1, -(-len(devices) // PAGE)),
            "show": show,
            "active": "trust",
        },
    )


# --- consultations ------------------------------------------------------------------


@router.get("/console/consultations")
def consultations(request: Request) -> Response:
    _staff(request)
    p = _platform(request)
    rows = []
    for project in p.store.list_projects():
        c = p.registry.lifecycle.open_for(project.id)
        if c is not None:
            rows.append((project, c))
    return render(request, "console/consultations.html", {"rows": rows, "active": "consultations"})


@router.get("/console/consultations/{project_id}")
def consultation(project_id: str, request: Request) -> Response:
    actor = _staff(request)
    p = _platform(request)
    project = p.store.get_project(project_id)
    if project is None:
        raise NotFound(project_id)
    c = p.registry.lifecycle.open_for(project_id)
    if c is None:
        raise CharterError(Reason.CONSULTATION_CLOSED, N_("the project is not in consultation"))
    comments = p.store.comments(c.id)
    themes = p.store.themes(c.id)
    now_ms = int(p.clock.now().timestamp() * 1000)
    return render(
        request,
        "console/consultation.html",
        {
            "project": project,
            "consultation": c,
            "comments": comments,
            "unthemed": [x for x in comments if x.theme_id is None],
            "themes": themes,
            "over": c.has_ended(now_ms),
            "council": actor.role == Role.COUNCIL.value,
            "done": request.query_params.get("done", ""),
            "active": "consultations",
        },
    )


@router.post("/console/consultations/{project_id}/themes")
def add_theme(project_id: str, request: Request, form: Submitted) -> Response:
    """A theme over the comments ticked (each box is named comment-<number>)."""
    actor = _staff(request, Role.OPERATOR, Role.COUNCIL)
    title = form.text("title", max_length=200, required=True)
    summary = form.text("summary", max_length=20_000)
    picked = []
    for name in form.data:
        number = name.removeprefix("comment-")
        wanted = name.startswith("comment-") and form.flag(name)
        if wanted and number.isdigit() and len(number) < 19:
            picked.append(int(number))
    p = _platform(request)
    p.registry.feedback.add_theme(project_id, title, summary, sorted(picked), actor)
    return redirect(f"/console/consultations/{project_id}?done=theme")


@router.post("/console/consultations/{project_id}/themes/{theme_id}/response")
def respond(project_id: str, theme_id: int, request: Request, form: Submitted) -> Response:
    actor = _staff(request, Role.OPERATOR, Role.COUNCIL)
    response = form.text("response", max_length=20_000, required=True)
    p = _platform(request)
    theme = p.store.get_theme(theme_id) if 1 <= theme_id <= MAX_ID else None
    consultation = p.registry.lifecycle.open_for(project_id)
    if theme is None or consultation is None or theme.consultation_id != consultation.id:
        raise NotFound(f"theme {theme_id}")
    p.registry.feedback.respond(theme_id, response, actor)
    return redirect(f"/console/consultations/{project_id}?done=response")


@router.post("/console/consultations/{project_id}/decision")
def decide(project_id: str, request: Request, form: Submitted) -> Response:
    """The council's decision; the register refuses it before the period has ended."""
    actor = _staff(request, Role.COUNCIL)
    chosen = Verdict(form.choice("verdict", {v.value for v in Verdict}))
    why = _why(form)
    p = _platform(request)
    p.registry.decide(project_id, chosen, actor, why)
    return redirect(f"/projects/{project_id}")


# --- two-person actions -------------------------------------------------------------


@router.get("/console/approvals")
def approvals(request: Request) -> Response:
    _staff(request)
    p = _platform(request)
    return render(
        request,
        "console/approvals.html",
        {
            "pending": p.security.approvals.list("pending"),
            "decided": [a for a in p.security.approvals.list() if a.status != "pending"][:PAGE],
            "kinds": [(k.value, RULES[k].params) for k in ActionKind],
            "done": request.query_params.get("done", ""),
            "active": "approvals",
        },
    )


@router.post("/console/approvals")
def propose(request: Request, form: Submitted) -> Response:
    """Propose: parameters one per line as name=value."""
    actor = _staff(request)
    chosen = ActionKind(form.choice("kind", {k.value for k in ActionKind}))
    why = _why(form)
    params = form.text("params", max_length=2000)
    values: dict[str, Any] = {}
    for line in params.splitlines()[:16]:
        if line.strip():
            name, sep, value = line.partition("=")
            if not sep or not name.strip() or len(value) > 200:
                raise Invalid(N_("write each parameter as name=value"))
            v = value.strip()
            values[name.strip()[:64]] = int(v) if v.isdigit() and len(v) < 18 else v
    p = _platform(request)
    done = p.security.approvals.propose(chosen, values, actor, why)
    return redirect(f"/console/approvals?done=proposed:{done.id}")


@router.post("/console/approvals/{action_id}/{decision}")
def decide_action(action_id: str, decision: str, request: Request, form: Submitted) -> Response:
    """Approve (another person than the proposer; the action is carried out) or refuse."""
    actor = _staff(request)
    why = _why(form)
    if len(action_id) > 64:
        raise NotFound(action_id)
    p = _platform(request)
    if decision == "approve":
        done = p.security.approvals.approve(action_id, actor, why)
    elif decision == "refuse":
        done = p.security.approvals.refuse(action_id, actor, why)
    else:
        raise NotFound(decision)
    return redirect(f"/console/approvals?done={done.status}:{done.id}")


# --- live services ----------------------------------------------------------------


@router.get("/console/services")
def services(request: Request) -> Response:
    _staff(request)
    p = _platform(request)
    return render(
        request,
        "console/services.html",
        {"services": overview(p.store, p.algorithms), "active": "services"},
    )
