"""The public register: exports, consultation records, comments; and the council's decision.

Reading and commenting need no account. Comments are rate-limited per source
(a keyed hash of the client address, never the address itself); names and
contact details are kept apart and never returned.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from pydantic import AwareDatetime, BaseModel, Field

from charter.api.deps import Council, Operator, PlatformDep
from charter.domain.clock import iso
from charter.domain.consultation import Stance, Verdict
from charter.domain.errors import CharterError, NotFound
from charter.domain.model import Project
from charter.domain.reasons import Reason
from charter.registry import export

router = APIRouter(tags=["register"])

# Row ids fit a signed 64-bit integer in every store; larger ones are refused at the door.
RowId = Annotated[int, Field(ge=1, le=2**63 - 1)]
ThemeId = Annotated[int, Path(ge=1, le=2**63 - 1)]

GEOJSON = "application/geo+json"
CSV = "text/csv; charset=utf-8"


class CommentIn(BaseModel):
    # Limits are checked by the service (one message for every client); this caps the body.
    text: Annotated[str, Field(max_length=100_000)] = ""
    stance: Stance = Stance.COMMENT
    name: Annotated[str, Field(max_length=1000)] | None = None
    contact: Annotated[str, Field(max_length=1000)] | None = None


class ThemeIn(BaseModel):
    title: Annotated[str, Field(max_length=1000)]
    summary: Annotated[str, Field(max_length=20_000)] = ""
    comment_ids: Annotated[list[RowId], Field(max_length=10_000)] = []


class CommentIds(BaseModel):
    comment_ids: Annotated[list[RowId], Field(min_length=1, max_length=10_000)]


class ResponseIn(BaseModel):
    response: Annotated[str, Field(max_length=100_000)]


class DecisionIn(BaseModel):
    outcome: Verdict
    why: Annotated[str, Field(min_length=1, max_length=2000)]
    at: AwareDatetime | None = None


class AmendmentIn(BaseModel):
    project: Project
    why: Annotated[str, Field(min_length=1, max_length=2000)]
    at: AwareDatetime | None = None


# exports ---------------------------------------------------------------------------


@router.get("/register/projects")
def register_projects(p: PlatformDep) -> list[dict[str, Any]]:
    """Every project ever registered, retired ones included, with its consultation."""
    return [export.project_record(p.store, x) for x in p.store.list_projects()]


@router.get("/register/projects.csv", response_class=Response)
def register_projects_csv(p: PlatformDep) -> Response:
    return Response(export.projects_csv(p.store), media_type=CSV)


@router.get("/register/projects.geojson", response_class=Response)
def register_projects_geojson(p: PlatformDep) -> Response:
    return Response(json.dumps(export.projects_geojson(p.store)), media_type=GEOJSON)


@router.get("/register/devices")
def register_devices(p: PlatformDep) -> list[dict[str, Any]]:
    """Every device on the register in the Amsterdam sensor register's terms."""
    return [record for _, record in export.device_records(p.store)]


@router.get("/register/devices.csv", response_class=Response)
def register_devices_csv(p: PlatformDep) -> Response:
    return Response(export.devices_csv(p.store), media_type=CSV)


@router.get("/register/devices.geojson", response_class=Response)
def register_devices_geojson(p: PlatformDep) -> Response:
    return Response(json.dumps(export.devices_geojson(p.store)), media_type=GEOJSON)


@router.get("/register/projects/{project_id}")
def register_project(project_id: str, p: PlatformDep) -> dict[str, Any]:
    """One project with every consultation it went through, themes and responses."""
    project = p.store.get_project(project_id)
    if project is None:
        raise NotFound(project_id)
    return export.project_record(p.store, project, detail=True)


# feedback --------------------------------------------------------------------------


@router.get("/register/projects/{project_id}/comments")
def list_comments(
    project_id: str,
    p: PlatformDep,
    after: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[dict[str, Any]]:
    """Comments of the project's consultations: text, stance and theme; never who wrote them."""
    return export.comment_records(p.store, project_id, after, limit)


@router.post("/register/projects/{project_id}/comments", status_code=201)
def post_comment(
    project_id: str, body: CommentIn, request: Request, p: PlatformDep
) -> dict[str, Any]:
    """Comment, support or oppose during consultation: no account needed."""
    address = request.client.host if request.client else "unknown"
    c = p.registry.feedback.comment(
        project_id, body.text, body.stance, address, name=body.name, contact=body.contact
    )
    return {"id": c.id, "at": iso(c.at), "stance": c.stance.value, "text": c.text}


@router.post("/register/projects/{project_id}/themes", status_code=201)
def add_theme(project_id: str, body: ThemeIn, p: PlatformDep, actor: Operator) -> dict[str, Any]:
    t = p.registry.feedback.add_theme(project_id, body.title, body.summary, body.comment_ids, actor)
    return {"id": t.id, "title": t.title, "summary": t.summary, "response": t.response}


@router.post("/register/themes/{theme_id}/comments")
def assign_comments(
    theme_id: ThemeId, body: CommentIds, p: PlatformDep, actor: Operator
) -> dict[str, Any]:
    t = p.registry.feedback.assign(theme_id, body.comment_ids, actor)
    return {"id": t.id, "title": t.title, "comments": body.comment_ids}


@router.post("/register/themes/{theme_id}/response")
def respond(theme_id: ThemeId, body: ResponseIn, p: PlatformDep, actor: Operator) -> dict[str, Any]:
    """Publish "you said, we did" for a theme."""
    t = p.registry.feedback.respond(theme_id, body.response, actor)
    return {"id": t.id, "title": t.title, "summary": t.summary, "response": t.response}


# decisions and amendments ------------------------------------------------------------


@router.post("/projects/{project_id}/decision")
def decide(project_id: str, body: DecisionIn, p: PlatformDep, actor: Council) -> Project:
    """The council approves or rejects, after the consultation ended, every theme answered.

    The one way a project or an amendment is approved: the decision and its reasons."""
    return p.registry.decide(project_id, body.outcome, actor, body.why, body.at)


@router.post("/projects/{project_id}/amendments")
def amend(project_id: str, body: AmendmentIn, p: PlatformDep, actor: Operator) -> dict[str, Any]:
    """Change an approved project: material changes go to consultation, the rest apply."""
    if body.project.id != project_id:
        raise CharterError(Reason.VALIDATION_FAILED, "the id in the path and the body differ")
    project, consultation = p.registry.lifecycle.amend(body.project, actor, body.why, body.at)
    return {
        "project": project.model_dump(mode="json"),
        "consultation": export.consultation_record(p.store, consultation) if consultation else None,
    }
