"""Media types, the JSON-LD Link header and request bodies (clause 6.3 of GS CIM 009).

- A body is `application/json` (its @context only from the Link header) or
  `application/ld+json` (its @context only in the body); PATCH also takes
  `application/merge-patch+json`. Anything else: 415. A body without a
  Content-Length: 411.
- A response is `application/json` (the @context in a Link header),
  `application/ld+json` (in the body) or, for entities, `application/geo+json`;
  an Accept header none of these satisfy: 406.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import msgspec
from fastapi import Request

from charter.ngsild.context import CORE_CONTEXT, Contexts, Terms
from charter.ngsild.errors import NgsiError, bad_data, invalid

JSON = "application/json"
JSONLD = "application/ld+json"
GEOJSON = "application/geo+json"
MERGE_PATCH = "application/merge-patch+json"
CONTEXT_REL = "http://www.w3.org/ns/json-ld#context"
_LINK = re.compile(r"<([^>]*)>\s*((?:;\s*[^;,]+)*)")


def _media(value: str) -> str:
    return value.split(";", 1)[0].strip().lower()


def link_context(request: Request) -> str | None:
    """The @context URL of the Link header (with the JSON-LD context rel), if any."""
    found: list[str] = []
    for header in request.headers.getlist("link"):
        for m in _LINK.finditer(header):
            params = m.group(2).replace(" ", "")
            if f'rel="{CONTEXT_REL}"' in params or f"rel={CONTEXT_REL}" in params:
                found.append(m.group(1).strip())
    if len(found) > 1:
        raise bad_data("more than one JSON-LD context Link header")
    return found[0] if found else None


def accept(request: Request, *, geo: bool = False) -> str:
    """The response media type (6.3.4): 406 if the Accept header allows none on offer.

    Each offered type takes its weight from the most specific range that matches it
    (RFC 9110 5.3.2: `application/json;q=0, */*` still refuses JSON); an unparseable
    weight is the default 1. Between equal weights the order of 6.3.4 decides (JSON,
    then JSON-LD, then GeoJSON where the operation offers it), not the header's order.
    """
    header = request.headers.get("accept", "")
    if not header.strip():
        return JSON
    ranges: list[tuple[str, float]] = []
    for part in header.split(",")[:64]:
        pieces = [p.strip() for p in part.split(";")]
        q = 1.0
        for p in pieces[1:]:
            if p[:2].lower() == "q=":
                try:
                    q = float(p[2:])
                except ValueError:
                    q = 1.0
                if not 0.0 <= q <= 1.0:  # NaN and out of range: the default
                    q = 1.0
        if pieces[0]:
            ranges.append((pieces[0].lower(), q))
    offered = [JSON, JSONLD] + ([GEOJSON] if geo else [])
    best: tuple[float, str] | None = None
    for media in offered:
        kind = media.split("/", 1)[0]
        level, weight = -1, 0.0
        for name, q in ranges:
            if name == media:
                here = 2
            elif name == f"{kind}/*":
                here = 1
            elif name == "*/*":
                here = 0
            else:
                continue
            if here > level:
                level, weight = here, q
            elif here == level:
                weight = max(weight, q)
        if weight > 0 and (best is None or weight > best[0]):
            best = (weight, media)
    if best is None:
        raise NgsiError(None, "none of the accepted media types can be produced", status=406)
    return best[1]


@dataclass
class Body:
    data: Any
    terms: Terms
    media: str


async def body(
    request: Request, contexts: Contexts, *, patch: bool = False, ids_only: bool = False
) -> Body:
    """The request's JSON body and its @context, by the media type rules. `ids_only`: a
    list of entity ids (batch delete), which has no object to carry an @context and
    needs none, so an application/ld+json one is taken without it."""
    ctype = _media(request.headers.get("content-type", ""))
    allowed = (JSON, JSONLD, MERGE_PATCH) if patch else (JSON, JSONLD)
    if ctype not in allowed:
        raise NgsiError(None, f"Content-Type must be one of {', '.join(allowed)}", status=415)
    if "content-length" not in request.headers:  # api.preconditions answers first; kept here
        raise NgsiError(None, "a body needs a Content-Length", status=411)
    raw = await request.body()
    try:
        data = msgspec.json.decode(raw)
    except (msgspec.DecodeError, RecursionError):
        raise invalid("the body is not valid JSON (or nests too deeply)") from None
    link = link_context(request)
    if ctype == JSONLD:
        if link is not None:
            raise bad_data("application/ld+json carries its @context in the body, not in Link")
        items = data if isinstance(data, list) else [data]
        context: Any = None
        if ids_only and not any(isinstance(item, dict) for item in items):
            items = []
        for item in items:
            if not isinstance(item, dict) or "@context" not in item:
                raise bad_data("an application/ld+json body must carry @context")
            context = item["@context"]
    else:
        if _has_context(data):
            raise bad_data("an application/json body must not carry @context (use Link)")
        context = link
    return Body(data, contexts.resolve(context), ctype)


def _has_context(data: Any) -> bool:
    if isinstance(data, dict):
        return "@context" in data
    if isinstance(data, list):
        return any(isinstance(d, dict) and "@context" in d for d in data)
    return False


def response_context(terms: Terms) -> Any:
    """The @context of an ld+json response: the request's, or the core context."""
    if not terms.source:
        return CORE_CONTEXT
    return terms.source[0] if len(terms.source) == 1 else list(terms.source)


def link_header(terms: Terms) -> str:
    """The Link header of a JSON response: the request's context URL if it was one."""
    ctx = terms.urls[0] if len(terms.urls) == 1 and len(terms.source) == 1 else CORE_CONTEXT
    return f'<{ctx}>; rel="{CONTEXT_REL}"; type="{JSONLD}"'
