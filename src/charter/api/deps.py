"""Request-scoped access to the platform and the caller's identity."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Path, Query, Request

from charter.auth import Role
from charter.bootstrap import Platform
from charter.domain.errors import CharterError
from charter.domain.model import Actor
from charter.domain.reasons import Reason
from charter.security.ratelimit import RateLimited

PUBLIC = Actor(name="anonymous", role=Role.PUBLIC.value)


def platform(request: Request) -> Platform:
    p: Platform = request.app.state.platform
    return p


def caller(request: Request) -> Actor:
    header = request.headers.get("authorization", "")
    if not header:
        return PUBLIC
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise CharterError(Reason.UNAUTHENTICATED, "use Authorization: Bearer <token>")
    p: Platform = request.app.state.platform
    found = p.security.tokens.verify(token.strip())
    # Per token: one stolen or runaway token cannot starve the other callers.
    wait_s = p.security.token_limiter.take(found.token_id)
    if wait_s:
        raise RateLimited(wait_s)
    return found.actor


def require(*roles: Role) -> Callable[[Actor], Actor]:
    allowed = {r.value for r in roles}

    def check(actor: Annotated[Actor, Depends(caller)]) -> Actor:
        if actor.role == Role.PUBLIC.value:
            raise CharterError(Reason.UNAUTHENTICATED, "this needs a bearer token")
        if actor.role not in allowed:
            raise CharterError(
                Reason.FORBIDDEN, f"the {actor.role} role may not do this; needs {sorted(allowed)}"
            )
        return actor

    return check


PlatformDep = Annotated[Platform, Depends(platform)]
Operator = Annotated[Actor, Depends(require(Role.OPERATOR))]
Council = Annotated[Actor, Depends(require(Role.COUNCIL))]
Reader = Annotated[Actor, Depends(require(Role.OPERATOR, Role.AUDITOR))]
Resident = Annotated[Actor, Depends(require(Role.RESIDENT))]
Consumer = Annotated[Actor, Depends(require(Role.CONSUMER))]
Owner = Annotated[Actor, Depends(require(Role.OPERATOR, Role.COUNCIL))]
Staff = Annotated[Actor, Depends(require(Role.OPERATOR, Role.COUNCIL, Role.AUDITOR, Role.CONSUMER))]


# Row ids and paging cursors fit a signed 64-bit integer in every store; anything
# larger is refused at the door (422) instead of failing in the driver.
MAX_ROW_ID = 2**63 - 1
After = Annotated[int, Query(ge=0, le=MAX_ROW_ID)]
ItemId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
