"""What every NGSI-LD route needs: the caller, the tenant, the @context, the reply."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from fastapi import Depends, Request
from fastapi.responses import JSONResponse, Response

from charter.api.deps import caller
from charter.domain.errors import CharterError
from charter.domain.model import Actor
from charter.ngsild import media
from charter.ngsild.context import Terms
from charter.ngsild.errors import bad_data, from_reason
from charter.ngsild.service import NgsiLd
from charter.security.ratelimit import RateLimited

TENANT_HEADER = "NGSILD-Tenant"


def ngsi(request: Request) -> NgsiLd:
    n: NgsiLd = request.app.state.platform.ngsild
    return n


def ngsi_caller(request: Request) -> Actor:
    """The caller (charter.api.deps.caller), its refusals as NGSI-LD errors."""
    try:
        return _device(request) or caller(request)
    except RateLimited as exc:
        from charter.domain.reasons import Reason

        err = from_reason(Reason.RATE_LIMITED, "too many requests", 429)
        err.headers["Retry-After"] = str(max(1, int(getattr(exc, "wait_s", 1) + 0.999)))
        raise err from None
    except CharterError as exc:
        raise from_reason(exc.reason, exc.detail) from None


def _device(request: Request) -> Actor | None:
    """A registered device's credential (`charter device token`): the device door only."""
    from charter.auth import DEVICE_PREFIX

    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token.startswith(DEVICE_PREFIX):
        return None
    p = request.app.state.platform
    found = p.security.issuer.verify_device(token)
    wait_s = p.security.token_limiter.take(found.token_id)
    if wait_s:
        raise RateLimited(wait_s)
    actor: Actor = found.actor
    return actor


Ngsi = Annotated[NgsiLd, Depends(ngsi)]
Caller = Annotated[Actor, Depends(ngsi_caller)]


def tenant(n: NgsiLd, actor: Actor, request: Request) -> str:
    return n.entities.rights.tenant(actor, request.headers.get(TENANT_HEADER))


def link_terms(n: NgsiLd, request: Request) -> Terms:
    """The @context of a request without a body: the Link header's, or the core."""
    return n.contexts.resolve(media.link_context(request))


def reply(
    data: Any, terms: Terms, mime: str, *, status: int = 200, headers: dict[str, str] | None = None,
    tenant_name: str = "", link: str | None = None,
) -> Response:  # fmt: skip
    """The reply; a JSON one links its @context (``link``: the URL Charter hosts an inline
    request context under, see ``api.ngsiq.context_link``)."""
    out = dict(headers or {})
    if tenant_name:
        out[TENANT_HEADER] = tenant_name
    if mime == media.JSONLD:
        ctx = media.response_context(terms)
        if isinstance(data, list):
            data = [{"@context": ctx, **d} if isinstance(d, dict) else d for d in data]
        elif isinstance(data, dict) and data.get("type") != "FeatureCollection":
            data = {"@context": ctx, **data}
    else:  # the context Link first, then any the route set (pagination)
        ctx_link = (
            f'<{link}>; rel="{media.CONTEXT_REL}"; type="{media.JSONLD}"'
            if link is not None
            else media.link_header(terms)
        )
        out["Link"] = ", ".join(filter(None, [ctx_link, out.get("Link")]))
    return Json(data, status_code=status, headers=out, media_type=mime)


class Json(JSONResponse):
    """A JSON response encoded by msgspec (several times the json module's speed on a page
    of entities; the same text: compact, non-ASCII kept). Values are JSON already (input
    numbers are finite, checked at the door); anything else falls back to the json module."""

    def render(self, content: Any) -> bytes:
        try:
            return msgspec.json.encode(content)
        except (TypeError, msgspec.EncodeError):
            return super().render(content)


def no_content(tenant_name: str = "", status: int = 204, **headers: str) -> Response:
    out = dict(headers)
    if tenant_name:
        out[TENANT_HEADER] = tenant_name
    return Response(status_code=status, headers=out)


def int_param(request: Request, name: str, default: int, low: int, high: int | None) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or len(raw) > 12:
        raise bad_data(f"{name} must be a non-negative integer")
    value = int(raw)
    if value < low:
        raise bad_data(f"{name} must be at least {low}")
    if high is not None and value > high:
        from charter.ngsild.errors import ErrorType, NgsiError

        raise NgsiError(ErrorType.TOO_MANY_RESULTS, f"{name} must be at most {high}")
    return value


def flag(request: Request, name: str) -> bool:
    raw = request.query_params.get(name)
    if raw is None:
        return False
    if raw not in ("true", "false"):
        raise bad_data(f"{name} must be true or false")
    return raw == "true"
