"""/entityOperations: batch create, upsert, update, merge and delete (clause 6.14-6.17, 6.31).

201 with the created ids, 204 when nothing was created, 207 with `success` and
`errors` (each a ProblemDetails) when some entity failed. One transaction per
batch; an entity fails whole or succeeds whole. An id twice in one batch is an
error of its own (BadRequestData), never silently merged.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from charter.domain.model import Actor
from charter.domain.reasons import Reason
from charter.ngsild import media, model
from charter.ngsild.api.common import TENANT_HEADER, Caller, Json, Ngsi, no_content, tenant
from charter.ngsild.api.device import device_batch
from charter.ngsild.batch import BatchMode, BatchResult, Fragment, batch_delete, batch_write
from charter.ngsild.devices import is_device
from charter.ngsild.errors import NgsiError, bad_data, from_reason
from charter.ngsild.service import NgsiLd

router = APIRouter(tags=["ngsi-ld"])
# A device's signed envelope (the bytes it would POST to /ingest): every gate stage.
ENVELOPE = "application/vnd.charter.envelope+json"
MAX_BATCH = 10_000


def _array(data: Any) -> list[Any]:
    if not isinstance(data, list):
        raise bad_data("a batch is a JSON array")
    if not data:  # ETSI 006_03_02: an empty batch is BadRequestData, not a 204 for nothing
        raise bad_data("a batch holds at least one entity")
    if len(data) > MAX_BATCH:
        raise bad_data(f"a batch holds at most {MAX_BATCH} entities")
    return data


def _carries_context(item: Any) -> bool:
    return isinstance(item, dict) and "@context" in item


def _fragments(n: NgsiLd, b: media.Body, *, need_type: bool) -> list[Fragment]:
    out: list[Fragment] = []
    last: tuple[Any, Any] | None = None  # (the last @context, its terms): batches share one
    for item in _array(b.data):
        raw_id = item.get("id") if isinstance(item, dict) else None
        entity_id = raw_id if isinstance(raw_id, str) else ""
        try:
            terms = b.terms
            if b.media == media.JSONLD:
                ctx = item.get("@context")
                if last is not None and type(ctx) is type(last[0]) and ctx == last[0]:
                    terms = last[1]
                else:
                    terms = n.contexts.resolve(ctx)
                    last = (ctx, terms)
            body = item
            if _carries_context(item):
                body = {k: v for k, v in item.items() if k != "@context"}
            eid, types, scope, attrs = model.entity(terms, body, need_type=need_type)
            assert eid is not None
            out.append(Fragment(eid, types, scope, attrs))
        except NgsiError as err:
            out.append(Fragment(entity_id, error=err))
    return out


async def _write(n: NgsiLd, actor: Actor, t: str, b: media.Body, mode: BatchMode) -> BatchResult:
    """Parse, check and write a batch on a worker thread, not the event loop: the server
    keeps answering meanwhile, and one batch's parsing runs while another's SQL does (the
    database driver lets go of the GIL)."""

    def work() -> BatchResult:
        fragments = _fragments(n, b, need_type=mode == "create")
        return batch_write(n.entities, actor, t, fragments, mode)

    return await run_in_threadpool(work)


def _answer(result: BatchResult, t: str, *, created_status: bool) -> Response:
    headers = {TENANT_HEADER: t} if t else {}
    if result.errors:
        body = {
            "success": result.success,
            "errors": [{"entityId": i, "error": e.problem()} for i, e in result.errors],
        }
        return JSONResponse(body, status_code=207, headers=headers)
    if created_status and result.created:
        return Json(result.created, status_code=201, headers=headers)
    return no_content(t)


@router.post("/entityOperations/create")
async def batch_create(request: Request, n: Ngsi, actor: Caller) -> Response:
    """Batch create (clause 5.6.7): 201 with the ids, or 207."""
    t = tenant(n, actor, request)
    b = await media.body(request, n.contexts)
    result = await _write(n, actor, t, b, "create")
    if not result.errors:
        return Json(result.success, status_code=201,
                            headers={TENANT_HEADER: t} if t else {})  # fmt: skip
    return _answer(result, t, created_status=True)


@router.post("/entityOperations/upsert")
async def batch_upsert(request: Request, n: Ngsi, actor: Caller) -> Response:
    """Batch upsert (clause 5.6.8), `options=replace` (default) or `update`: 201, 204 or 207."""
    t = tenant(n, actor, request)
    if request.headers.get("content-type", "").split(";")[0].strip() == ENVELOPE:
        return await _envelope(request, n, t)
    options = (request.query_params.get("options") or "replace").split(",")
    mode: BatchMode = "upsert-update" if "update" in options else "upsert-replace"
    b = await media.body(request, n.contexts)
    if is_device(actor):  # its readings, through the gate (ngsild.devices)
        return device_batch(request, n, actor, t, _fragments(n, b, need_type=False), upsert=True)
    result = await _write(n, actor, t, b, mode)
    return _answer(result, t, created_status=True)


@router.post("/entityOperations/update")
async def batch_update(request: Request, n: Ngsi, actor: Caller) -> Response:
    """Batch update (clause 5.6.9), `options=noOverwrite`: 204 or 207."""
    t = tenant(n, actor, request)
    keep = "noOverwrite" in (request.query_params.get("options") or "").split(",")
    b = await media.body(request, n.contexts)
    mode: BatchMode = "update-keep" if keep else "update"
    if is_device(actor):
        return device_batch(request, n, actor, t, _fragments(n, b, need_type=False), upsert=False)
    result = await _write(n, actor, t, b, mode)
    return _answer(result, t, created_status=False)


@router.post("/entityOperations/merge")
async def batch_merge(request: Request, n: Ngsi, actor: Caller) -> Response:
    """Batch merge (clause 5.6.20): 204 or 207."""
    t = tenant(n, actor, request)
    b = await media.body(request, n.contexts)
    result = await _write(n, actor, t, b, "merge")
    return _answer(result, t, created_status=False)


@router.post("/entityOperations/delete")
async def batch_delete_route(request: Request, n: Ngsi, actor: Caller) -> Response:
    """Batch delete (clause 5.6.10): a JSON array of ids; 204 or 207."""
    t = tenant(n, actor, request)
    b = await media.body(request, n.contexts, ids_only=True)
    ids = _array(b.data)
    bad = [i for i in ids if not model.is_uri(i)]
    if bad:
        raise bad_data("every id of a batch delete must be a URI")
    result = await run_in_threadpool(batch_delete, n.entities, actor, t, ids)
    return _answer(result, t, created_status=False)


async def _envelope(request: Request, n: NgsiLd, t: str) -> Response:
    """A device's readings, through the gate (one door): its refusal as an NGSI-LD error."""
    if t:
        raise bad_data("readings are published in the default tenant")
    platform = request.app.state.platform
    outcome = platform.gate.ingest([await request.body()])[0]
    if n.bridge is not None:  # the client reads its write back at once
        n.bridge.flush()
    if outcome.rejection is not None:
        raise from_reason(
            outcome.rejection.reason, f"refused by the gate ({outcome.rejection.stage})"
        )
    if not outcome.admitted:
        reasons = sorted(outcome.rejected)
        reason = Reason(reasons[0]) if reasons else Reason.INVALID_READING
        raise from_reason(reason, "the gate admitted none of the readings")
    if outcome.rejected:
        body = {
            "success": [],
            "admitted": outcome.admitted,
            "errors": [{"reason": r, "readings": c} for r, c in outcome.rejected.items()],
        }
        return JSONResponse(body, status_code=207)  # fmt: skip
    return no_content(t)
