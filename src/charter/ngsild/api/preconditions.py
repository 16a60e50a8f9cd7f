"""What is checked of every NGSI-LD request before anything else (clause 6.3 of GS CIM 009).

- POST, PATCH and PUT without a Content-Length: a bare 411, no body (6.3.2, 6.3.4),
  decided before the caller, the tenant or the route's own checks.
- A query parameter NGSI-LD does not define: 400 InvalidRequest (6.3.20). The names are
  one list for every route: each route still refuses the ones it does not take by its own
  rules (e.g. 422 for the parts Charter does not do, see `entities.UNSUPPORTED`).
- `location(path, id)`: a Location header that keeps the id's ':' as Orion-LD does
  (ETSI GS CIM 014 checks that the header contains the id as sent).
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlencode

from fastapi import Request

from charter.ngsild.errors import ErrorType, NgsiError

BODY_METHODS = frozenset({"POST", "PATCH", "PUT"})

# Every query parameter of GS CIM 009 v1.8 (6.3, 6.4-6.31), those Charter answers 422 for too.
PARAMS = frozenset(
    {
        # entities, query, retrieve (6.4, 6.5, 6.23)
        "type", "id", "idPattern", "attrs", "pick", "omit", "q", "georel", "geometry",
        "coordinates", "geoproperty", "geometryProperty", "csf", "limit", "offset", "count",
        "options", "format", "lang", "local", "scopeQ", "datasetId", "deleteAll", "sysAttrs",
        "join", "joinLevel", "containedBy", "expandValues", "entityMap", "collapse",
        "jsonKeys", "doNotCompact", "observedAt", "via",
        # temporal (6.18-6.22)
        "timerel", "timeAt", "endTimeAt", "timeproperty", "lastN", "aggrMethods",
        "aggrPeriodDuration",
        # discovery, @contexts (6.25-6.31)
        "details", "kind", "reload",
    }
)  # fmt: skip

# Routes that take fewer (GS CIM 009 6.25-6.28): anything else on them is InvalidRequest.
ROUTE_PARAMS = [
    (re.compile(r"/ngsi-ld/v1/types/?"), frozenset({"details", "local"})),
    (re.compile(r"/ngsi-ld/v1/types/.+"), frozenset({"local"})),  # expanded: "/" in it
    (re.compile(r"/ngsi-ld/v1/attributes/?"), frozenset({"details", "local", "count"})),
    (re.compile(r"/ngsi-ld/v1/attributes/.+"), frozenset({"local"})),
]


def _allowed(path: str) -> frozenset[str]:
    for pattern, names in ROUTE_PARAMS:
        if pattern.fullmatch(path):
            return names
    return PARAMS


# Path characters kept as sent in a Location header (RFC 3986 pchar has ':').
_SAFE = ":"


def location(collection: str, resource_id: str) -> str:
    """`/ngsi-ld/v1/<collection>/<id>` with the id's ':' kept; '/', '?', '#', ' ' encoded."""
    return f"/ngsi-ld/v1/{collection}/" + quote(resource_id, safe=_SAFE)


def page_links(request: Request, path: str, limit: int, offset: int, total: int, mime: str) -> str:
    """Pagination (5.5.9): `<...?limit=L&offset=O>;rel="prev"` and `rel="next"` Link values,
    the request's other parameters kept; none at an edge of the result set or with limit=0."""
    if limit <= 0:
        return ""
    rest = [(k, v) for k, v in request.query_params.multi_items() if k not in ("limit", "offset")]

    def link(at: int, rel: str) -> str:
        query = urlencode([("limit", limit), ("offset", at), *rest])
        return f'<{path}?{query}>;rel="{rel}";type="{mime}"'

    out = []
    if offset > 0:
        out.append(link(max(0, offset - limit), "prev"))
    if offset + limit < total:
        out.append(link(offset + limit, "next"))
    return ", ".join(out)


class LengthRequired(NgsiError):
    """411: answered with no body at all (6.3.4)."""

    def __init__(self) -> None:
        super().__init__(None, "a body needs a Content-Length", status=411)


def preconditions(request: Request) -> None:
    """The checks every route shares, run before the caller's token is looked at."""
    if request.method in BODY_METHODS and "content-length" not in request.headers:
        raise LengthRequired()
    allowed = _allowed(request.url.path)
    for name in request.query_params:
        if name not in allowed:
            # The name is the caller's own input, but keep details free of submitted text.
            raise NgsiError(ErrorType.INVALID_REQUEST, "a query parameter NGSI-LD does not define")
