"""The public record: checkpoint, entries and proofs, readable by anyone."""

from __future__ import annotations

import base64
from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse
from starlette.concurrency import run_in_threadpool

from charter.api.deps import MAX_ROW_ID, PlatformDep
from charter.domain.clock import iso
from charter.domain.errors import Invalid
from charter.ledger.checkpoint import vkey

router = APIRouter(prefix="/ledger", tags=["ledger"])
# Indexes and sizes fit a signed 64-bit integer in every store; larger ones are refused.
Index = Annotated[int, Query(ge=0, le=MAX_ROW_ID)]
Size = Annotated[int, Query(ge=1, le=MAX_ROW_ID)]


def _b64(h: bytes) -> str:
    return base64.b64encode(h).decode()


@router.get("/checkpoint", response_class=PlainTextResponse)
def checkpoint(p: PlatformDep) -> str:
    """The latest signed checkpoint, as a C2SP signed note."""
    return p.ledger.checkpoint().note


@router.post("/cosignature", response_class=PlainTextResponse)
async def cosignature(request: Request, p: PlatformDep) -> str:
    """Hand in a witness's cosignature (C2SP `cosignature/v1`) of a checkpoint.

    The body is the cosigned note (text). It is kept only if a configured
    witness (`ledger_witnesses`) cosigned a checkpoint the ledger signed;
    the answer is the checkpoint's note as now stored, with every cosignature.
    """
    note = (await request.body()).decode("utf-8", errors="replace")
    return await run_in_threadpool(p.ledger_witnesses.accept, note)


@router.get("/key")
def key(
    p: PlatformDep,
    chain: Annotated[bool, Query(description="Also list every signing key so far")] = False,
) -> dict[str, Any]:
    """The current verifier key for checkpoints; with `chain=true`, every key so far.

    Each key of the chain signs only the tree sizes from `first_size` to
    `last_size` (null: the current key); the chain is derived from the
    `ledger.key_rotated` entries, so a reader can follow it from the first key.
    """
    out: dict[str, Any] = {
        "vkey": vkey(p.ledger.key.name, p.ledger.key.public_key),
        "origin": p.ledger.origin,
    }
    if chain:
        out["chain"] = [period.to_json() for period in p.ledger.chain()]
    return out


@router.get("/entries")
def entries(p: PlatformDep, start: Index = 0, end: Size = 100) -> list[dict[str, Any]]:
    if end - start > 1000 or end <= start:
        raise Invalid("ask for between 1 and 1000 entries, with start < end")
    return [
        {
            "index": e.idx,
            "at": iso(e.at),
            "kind": e.kind,
            "data": msgspec.json.decode(e.data),
            "raw": _b64(e.data),
        }
        for e in p.store.ledger_entries(start, end)
    ]


@router.get("/proof/inclusion")
def inclusion(p: PlatformDep, index: Index, size: Size) -> dict[str, Any]:
    if index >= size:
        raise Invalid("index must be below size")
    try:
        proof = p.ledger.inclusion(index, size)
    except ValueError as e:
        raise Invalid(str(e)) from None
    return {"index": index, "size": size, "proof": [_b64(h) for h in proof]}


@router.get("/proof/consistency")
def consistency(p: PlatformDep, old: Index, new: Index) -> dict[str, Any]:
    if old > new:
        raise Invalid("old must not exceed new")
    try:
        proof = p.ledger.consistency(old, new)
    except ValueError as e:
        raise Invalid(str(e)) from None
    return {"old": old, "new": new, "proof": [_b64(h) for h in proof]}
