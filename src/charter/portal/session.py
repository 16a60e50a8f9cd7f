"""Who is signed in to the portal, and the CSRF token of its forms.

One door: a portal session holds the bearer token the embedded issuer (or the
configured OpenID provider) gave its holder, and every request checks it again
with the same `TokenVerifier` and per-token rate limit the API uses
(`charter.api.deps`), so a revoked or expired token signs the session out at once,
in every process. Roles are checked by `charter.api.deps.require`, the API's own rule.

The session cookie (`charter_session`) is the token, signed with the install's
portal key (`<data_dir>/keys/portal.key`, made on first use); it is `HttpOnly`,
`SameSite=Strict`, and `Secure` when the request came over TLS.

CSRF: a signed double submit. The `charter_csrf` cookie holds a random nonce;
each form carries HMAC(portal key, nonce, session) in its `csrf` field. A POST
whose field does not match its cookie (or the session it was made for) is
refused with FORBIDDEN and nothing is done.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from charter.api import deps
from charter.auth import Role
from charter.bootstrap import Platform
from charter.domain.errors import CharterError
from charter.domain.model import Actor
from charter.domain.reasons import Reason
from charter.registry.secret import load_or_create_secret

SESSION_COOKIE = "charter_session"
CSRF_COOKIE = "charter_csrf"
CSRF_FIELD = "csrf"
SESSION_MAX_AGE_S = 12 * 3600
MAX_FORM_FIELDS = 200
MAX_FORM_PART_BYTES = 256 * 1024
CSRF_FAILED = "the form's security token is missing or does not match; reload the page"
SIGN_IN = "sign in to open this page"
WRONG_ROLE = "your role may not open this page"


def portal_key(platform: Platform) -> bytes:
    """The install's secret for session cookies and CSRF tokens (cached on the platform)."""
    key: bytes | None = getattr(platform, "_portal_key", None)
    if key is None:
        key = load_or_create_secret(platform.settings.data_dir / "keys" / "portal.key")
        object.__setattr__(platform, "_portal_key", key)
    return key


def _serializer(platform: Platform) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(portal_key(platform), salt="charter.portal.session")


def secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _cookie(response: Response, request: Request, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="strict",
        secure=secure(request),
    )


# --- the session ---------------------------------------------------------------------


def _platform(request: Request) -> Platform:
    p: Platform = request.app.state.platform
    return p


def session_token(request: Request) -> str | None:
    """The bearer token of the signed-in session, if its cookie is genuine."""
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        return None
    try:
        data = _serializer(_platform(request)).loads(raw, max_age=SESSION_MAX_AGE_S)
    except BadSignature:
        return None
    token = data.get("t") if isinstance(data, dict) else None
    return token if isinstance(token, str) else None


def actor(request: Request) -> Actor:
    """Who is asking: the session's (or an Authorization header's) holder, else the public.

    A session whose token is no longer valid counts as no session: the public."""
    cached: Actor | None = getattr(request.state, "portal_actor", None)
    if cached is not None:
        return cached
    if request.headers.get("authorization"):
        found = deps.caller(request)
    else:
        token = session_token(request)
        found = deps.PUBLIC
        if token:
            p = _platform(request)
            try:
                principal = p.security.tokens.verify(token)
            except CharterError:
                principal = None
            if principal is not None:
                wait_s = p.security.token_limiter.take(principal.token_id)
                if wait_s:
                    raise CharterError(Reason.RATE_LIMITED, "too many requests; retry later")
                found = principal.actor
    request.state.portal_actor = found
    return found


def require_role(*roles: Role) -> Callable[[Request], Actor]:
    """A dependency: the signed-in actor if their role is one of `roles`.

    The public gets UNAUTHENTICATED (the error page offers the sign-in), another role
    FORBIDDEN; both by `charter.api.deps.require`, the API's rule."""
    check = deps.require(*roles)

    def dependency(request: Request) -> Actor:
        try:
            return check(actor(request))
        except CharterError as e:  # the API's words are for API clients: say it for people
            detail = SIGN_IN if e.reason is Reason.UNAUTHENTICATED else WRONG_ROLE
            raise CharterError(e.reason, detail) from None

    return dependency


def sign_in(request: Request, response: Response, token: str) -> Actor:
    """Verify a token and start a session with it; raises the token's refusal."""
    principal = _platform(request).security.tokens.verify(token.strip())
    value = _serializer(_platform(request)).dumps({"t": token.strip()})
    _cookie(response, request, SESSION_COOKIE, value, SESSION_MAX_AGE_S)
    # A new session gets a new CSRF nonce: tokens of the old one stop working.
    _cookie(response, request, CSRF_COOKIE, secrets.token_urlsafe(24), SESSION_MAX_AGE_S)
    return principal.actor


def sign_out(request: Request, response: Response) -> None:
    for name in (SESSION_COOKIE, CSRF_COOKIE):
        response.delete_cookie(
            name, path="/", httponly=True, samesite="strict", secure=secure(request)
        )


# --- CSRF ------------------------------------------------------------------------------


def _binding(request: Request) -> str:
    """What a CSRF token is bound to besides its nonce: the session, if any."""
    raw = request.cookies.get(SESSION_COOKIE, "")
    return hashlib.sha256(raw.encode()).hexdigest() if raw else "-"


def _mac(request: Request, nonce: str) -> str:
    key = portal_key(_platform(request))
    msg = f"csrf|{nonce}|{_binding(request)}".encode()
    return hmac.new(key, msg, hashlib.sha256).hexdigest()


def csrf_nonce(request: Request) -> str:
    """This request's CSRF nonce: the cookie's, or a new one `render` will set."""
    nonce: str | None = getattr(request.state, "csrf_nonce", None)
    if nonce is None:
        nonce = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)
        request.state.csrf_nonce = nonce
    return nonce


def csrf_token(request: Request) -> str:
    return _mac(request, csrf_nonce(request))


def set_csrf_cookie(request: Request, response: Response) -> None:
    """Called by `render`: give the browser the nonce the page's forms were made with."""
    nonce = getattr(request.state, "csrf_nonce", None)
    if nonce and request.cookies.get(CSRF_COOKIE) != nonce:
        _cookie(response, request, CSRF_COOKIE, nonce, SESSION_MAX_AGE_S)


def check_csrf(request: Request, submitted: str | None) -> None:
    nonce = request.cookies.get(CSRF_COOKIE)
    if not nonce or not submitted or not hmac.compare_digest(_mac(request, nonce), submitted):
        raise CharterError(Reason.FORBIDDEN, CSRF_FAILED)


@dataclass(frozen=True)
class Form:
    """A submitted form whose CSRF token was checked; fields read with limits."""

    data: Mapping[str, Any]

    def text(self, name: str, *, max_length: int, required: bool = False) -> str:
        value = self.data.get(name, "")
        if not isinstance(value, str):
            raise CharterError(Reason.VALIDATION_FAILED, f"{name}: must be text")
        if required and not value.strip():
            raise CharterError(Reason.VALIDATION_FAILED, f"{name}: is required")
        if len(value) > max_length:
            raise CharterError(Reason.VALIDATION_FAILED, f"{name}: at most {max_length} characters")
        return value

    def choice(self, name: str, options: set[str], default: str | None = None) -> str:
        value = self.data.get(name, default)
        if value not in options:
            raise CharterError(Reason.VALIDATION_FAILED, f"{name}: not one of the choices")
        return str(value)

    def flag(self, name: str) -> bool:
        return self.data.get(name) in ("on", "true", "1", "yes")


async def form(request: Request) -> Form:
    """A dependency for POST pages: the form, after its CSRF token is checked.

    `form: Annotated[Form, Depends(form)]` — a forged or missing token is refused
    (FORBIDDEN) before the page's code runs, so nothing is stored."""
    ctype = request.headers.get("content-type", "")
    if not ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        raise CharterError(Reason.VALIDATION_FAILED, "send the form as a web form")
    try:
        data: FormData = await request.form(
            max_files=0, max_fields=MAX_FORM_FIELDS, max_part_size=MAX_FORM_PART_BYTES
        )
    except CharterError:
        raise
    except Exception:
        raise CharterError(Reason.VALIDATION_FAILED, "the form could not be read") from None
    raw = data.get(CSRF_FIELD)
    check_csrf(request, raw if isinstance(raw, str) else None)
    return Form({k: v for k, v in data.items() if k != CSRF_FIELD})
