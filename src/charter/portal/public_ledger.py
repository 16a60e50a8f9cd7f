"""The public ledger in the portal: the signed checkpoint, the entries, and a page that
checks an entry's inclusion proof and the checkpoint's signature in the browser.

The check runs in the reader's browser (static/verify.js): SHA-256 by WebCrypto for the
RFC 6962 Merkle path, Ed25519 by WebCrypto where the browser has it, else by the
vendored, pinned TweetNaCl (static/vendor/). It fetches what any verifier would from the
API (`/ledger/checkpoint`, `/ledger/key`, `/ledger/entries`, `/ledger/proof/inclusion`),
so trusting the page's server-side text is not needed.
"""

from __future__ import annotations

import json
from typing import Annotated

import msgspec
from fastapi import Query, Request
from fastapi.responses import Response

from charter.api.deps import MAX_ROW_ID
from charter.api.deps import platform as platform_of
from charter.domain.errors import CharterError
from charter.domain.reasons import Reason
from charter.ledger.checkpoint import vkey
from charter.portal.web import page_router, render

router = page_router(tags=["portal"])
PAGE = 50


@router.get("/city/ledger")
def ledger(request: Request) -> Response:
    """The current signed checkpoint and the newest entries."""
    p = platform_of(request)
    cp = p.ledger.checkpoint()
    size = p.ledger.size
    recent = p.store.ledger_entries(max(0, size - 10), size) if size else []
    return render(
        request,
        "public/ledger.html",
        {
            "cp": cp,
            "root_hex": cp.root.hex(),
            "vkey": vkey(p.ledger.key.name, p.ledger.key.public_key),
            "origin": p.ledger.origin,
            "size": size,
            "recent": list(reversed(recent)),
        },
    )


@router.get("/city/ledger/entries")
def entries(
    request: Request,
    before: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
    kind: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    """Browse the entries, newest first, 50 a page."""
    p = platform_of(request)
    size = p.ledger.size
    end = min(before or size, size)
    start = max(0, end - PAGE)
    rows = list(reversed(p.store.ledger_entries(start, end))) if end else []
    if kind:
        rows = [e for e in rows if e.kind == kind]
    return render(
        request,
        "public/entries.html",
        {"rows": rows, "start": start, "end": end, "size": size, "kind": kind, "page": PAGE},
    )


@router.get("/city/ledger/verify")
def verify(
    request: Request, index: Annotated[int | None, Query(ge=0, le=MAX_ROW_ID)] = None
) -> Response:
    """Check one entry against the signed checkpoint, in the browser."""
    p = platform_of(request)
    size = p.ledger.size
    if size == 0:
        raise CharterError(Reason.NOT_FOUND, "the ledger has no entries yet")
    if index is None:
        index = size - 1
    if index >= size:
        raise CharterError(Reason.NOT_FOUND, "the ledger has no entry with that index")
    entry = p.store.ledger_entries(index, index + 1)[0]
    pretty = json.dumps(msgspec.json.decode(entry.data), indent=2, ensure_ascii=False)
    return render(
        request,
        "public/verify.html",
        {"entry": entry, "pretty": pretty, "index": index, "size": size},
    )
