"""Request-scoped access to the platform and the caller's identity."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request

from charter.auth import Role, authenticate
from charter.bootstrap import Platform
from charter.domain.errors import CharterError
from charter.domain.model import Actor
from charter.domain.reasons import Reason

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
    actor = authenticate(request.app.state.platform.store, token.strip())
    if actor is None:
        raise CharterError(Reason.UNAUTHENTICATED, "the token is unknown or revoked")
    return actor


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
