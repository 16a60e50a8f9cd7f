"""Bearer tokens bound to a role: OAuth2 access tokens from Charter's embedded issuer.

A token is `chr_` + a JWT (RFC 7519) signed with EdDSA by the embedded issuer,
whose key lives in the store (`issuer_keys`). The `chr_` prefix lets secret
scanners recognise a leaked token. Besides the signature, the platform keeps
the token's SHA-256 digest, so a token can be revoked before it expires; the
token itself is never stored. Tokens of an external OpenID Connect provider
are checked by `charter.security.tokens.TokenVerifier`.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

from charter.domain.clock import Clock, SystemClock, to_ms
from charter.domain.errors import CharterError
from charter.domain.model import Actor
from charter.domain.reasons import Reason
from charter.store.base import IssuerKey, Store, TokenRecord

PREFIX = "chr_"
DEFAULT_ISSUER = "https://charter.example.city/auth"
DEFAULT_AUDIENCE = "charter"
DEFAULT_TTL_S = 30 * 86_400
ALGORITHM = "EdDSA"


class Role(StrEnum):
    RESIDENT = "resident"
    OPERATOR = "operator"
    COUNCIL = "council"
    CONSUMER = "consumer"  # a data consumer: an app or a department
    AUDITOR = "auditor"
    PUBLIC = "public"


@dataclass(frozen=True)
class Principal:
    """A verified token: who, in which role, for which purposes, until when."""

    actor: Actor
    token_id: str  # what rate limits count by; never the token itself
    expires_at_ms: int
    purposes: tuple[str, ...] = field(default=())  # empty: not purpose-bound


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _signing_key(store: Store, clock: Clock) -> tuple[str, Ed25519PrivateKey]:
    keys = store.issuer_keys()
    if keys:
        k = keys[-1]
        private = serialization.load_pem_private_key(k.private_pem.encode(), password=None)
        assert isinstance(private, Ed25519PrivateKey)
        return k.kid, private
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    kid = uuid.uuid4().hex
    with store.transaction() as tx:
        tx.add_issuer_key(IssuerKey(kid, pem, to_ms(clock.now())))
    # Two processes may race to make the first key: the first one stored wins.
    first = store.issuer_keys()[0]
    if first.kid != kid:
        return _signing_key(store, clock)
    return kid, private


def issue_token(
    store: Store,
    clock: Clock,
    name: str,
    role: Role,
    *,
    subject: str | None = None,
    purposes: Sequence[str] = (),
    tenants: Sequence[str] = (),
    audience: str = DEFAULT_AUDIENCE,
    issuer: str = DEFAULT_ISSUER,
    ttl_s: int = DEFAULT_TTL_S,
) -> str:
    """Create a token; it is shown once and only its digest is stored."""
    kid, key = _signing_key(store, clock)
    now_s = int(clock.now().timestamp())
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "sub": name,
        "role": role.value,
        "iat": now_s,
        "exp": now_s + ttl_s,
        "jti": secrets.token_urlsafe(16),
    }
    if subject is not None:
        claims["subject"] = subject
    if purposes:
        claims["purposes"] = list(purposes)
    if tenants:
        claims["tenants"] = list(tenants)
    token = PREFIX + jwt.encode(claims, key, algorithm=ALGORITHM, headers={"kid": kid})
    record = TokenRecord(digest(token), name, role.value, to_ms(clock.now()), False, subject)
    with store.transaction() as tx:
        tx.add_token(record)
    return token


@dataclass(frozen=True)
class TokenIssuer:
    """The one issuer every door uses (API, CLI, demo): the configured audience,
    issuer and lifetime, so a token it makes is one the verifier accepts."""

    store: Store
    clock: Clock
    audience: str = DEFAULT_AUDIENCE
    issuer: str = DEFAULT_ISSUER
    ttl_s: int = DEFAULT_TTL_S

    def issue(
        self,
        name: str,
        role: Role,
        *,
        subject: str | None = None,
        purposes: Sequence[str] = (),
        tenants: Sequence[str] = (),
    ) -> str:
        return issue_token(
            self.store,
            self.clock,
            name,
            role,
            subject=subject,
            purposes=purposes,
            tenants=tenants,
            audience=self.audience,
            issuer=self.issuer,
            ttl_s=self.ttl_s,
        )

    def issue_device(self, device_id: str, *, ttl_s: int | None = None) -> str:
        """A registered device's credential for the NGSI-LD door (`issue_device_token`)."""
        return issue_device_token(
            self.store, self.clock, device_id, audience=self.audience, issuer=self.issuer,
            ttl_s=ttl_s or self.ttl_s,
        )  # fmt: skip

    def verify_device(self, token: str) -> Principal:
        return verify_device_token(
            self.store, token, clock=self.clock, audience=self.audience, issuer=self.issuer
        )


def revoke_token(store: Store, token: str) -> bool:
    """Revoke a token of the embedded issuer at once, for every process (the flag is in
    the store, which `verify_embedded` reads on every request). False if unknown."""
    with store.transaction() as tx:
        return tx.revoke_token(digest(token.strip()))


def verify_embedded(
    store: Store,
    token: str,
    *,
    clock: Clock,
    audience: str = DEFAULT_AUDIENCE,
    issuer: str = DEFAULT_ISSUER,
) -> Principal:
    """Check an embedded token; raises CharterError with the reason it is refused."""
    if not token.startswith(PREFIX):
        raise CharterError(Reason.UNAUTHENTICATED, "the token is unknown or revoked")
    raw = token[len(PREFIX) :]
    try:
        kid = jwt.get_unverified_header(raw).get("kid")
    except jwt.PyJWTError:
        raise CharterError(Reason.UNAUTHENTICATED, "the token is unknown or revoked") from None
    keys = {k.kid: k for k in store.issuer_keys()}
    if not isinstance(kid, str) or kid not in keys:
        raise CharterError(Reason.UNAUTHENTICATED, "the token is unknown or revoked")
    private = serialization.load_pem_private_key(keys[kid].private_pem.encode(), password=None)
    assert isinstance(private, Ed25519PrivateKey)
    claims = decode_claims(raw, private.public_key(), clock=clock, audience=audience, issuer=issuer)
    record = store.get_token(digest(token))
    if record is None or record.revoked:
        raise CharterError(Reason.UNAUTHENTICATED, "the token is unknown or revoked")
    return principal(claims, "role", token_id=digest(token)[:32])


def decode_claims(
    raw: str, key: Any, *, clock: Clock, audience: str, issuer: str, algorithms: Sequence[str] = ()
) -> dict[str, Any]:
    """Verify a JWT's signature, issuer and audience; expiry against the injectable clock."""
    try:
        claims: dict[str, Any] = jwt.decode(
            raw,
            key,
            algorithms=list(algorithms) or [ALGORITHM],
            audience=audience,
            issuer=issuer,
            options={"verify_exp": False, "verify_iat": False, "require": ["exp", "sub"]},
        )
    except jwt.InvalidAudienceError:
        raise CharterError(Reason.WRONG_AUDIENCE, "the token is for another tenant") from None
    except jwt.PyJWTError:
        raise CharterError(Reason.UNAUTHENTICATED, "the token is unknown or revoked") from None
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or exp <= clock.now().timestamp():
        raise CharterError(Reason.TOKEN_EXPIRED, "the token has expired")
    return claims


def principal(claims: dict[str, Any], role_claim: str, *, token_id: str) -> Principal:
    """The caller a verified token names; its role must be one Charter knows."""
    role = _role(claims, role_claim)
    if role is None:
        raise CharterError(Reason.FORBIDDEN, "the token carries no Charter role")
    purposes = claims.get("purposes", [])
    if isinstance(purposes, str):
        purposes = purposes.split()
    subject = claims.get("subject")
    clean = tuple(str(p)[:100] for p in purposes if isinstance(p, str) and p)[:32]
    tenants = claims.get("tenants", [])
    bound = tuple(str(t)[:100] for t in tenants if isinstance(t, str) and t)[:32]
    actor = Actor(
        name=str(claims["sub"])[:200],
        role=role.value,
        subject=str(subject)[:200] if subject else None,
        purposes=clean,
        tenants=bound if isinstance(tenants, list) else (),
    )
    return Principal(actor, token_id, int(claims["exp"] * 1000), clean)


def _role(claims: dict[str, Any], role_claim: str) -> Role | None:
    value: Any = claims
    for part in role_claim.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    values = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    for v in values:
        if isinstance(v, str) and v in Role.__members__.values():
            return Role(v)
    return None


def issuer_jwks(store: Store) -> dict[str, Any]:
    """The embedded issuer's public keys as a JWK Set (RFC 7517, OKP keys of RFC 8037)."""
    keys = []
    for k in store.issuer_keys():
        private = serialization.load_pem_private_key(k.private_pem.encode(), password=None)
        assert isinstance(private, Ed25519PrivateKey)
        jwk = OKPAlgorithm.to_jwk(private.public_key(), as_dict=True)
        keys.append({**jwk, "kid": k.kid, "alg": ALGORITHM})
    return {"keys": keys}


def authenticate(store: Store, token: str, *, clock: Clock | None = None) -> Actor | None:
    """The actor an embedded token names, or None if it is not valid now."""
    try:
        return verify_embedded(store, token, clock=clock or SystemClock()).actor
    except CharterError:
        return None


# -- device credentials ---------------------------------------------------------------
# A registered device's bearer credential (`charter device token`): for devices that write
# plain NGSI-LD JSON instead of signing envelopes. Its own prefix and a role that is no
# `Role`, so no route but the NGSI-LD device door accepts it (a `chr_` route refuses it);
# what it may write is decided at every write by the gate (`Gate.ingest_credentialed`).
DEVICE_PREFIX = "chd_"
DEVICE_ROLE = "device"


def issue_device_token(
    store: Store,
    clock: Clock,
    device_id: str,
    *,
    audience: str = DEFAULT_AUDIENCE,
    issuer: str = DEFAULT_ISSUER,
    ttl_s: int = DEFAULT_TTL_S,
) -> str:
    """A device's credential; shown once, only its digest stored (revoked like any token)."""
    kid, key = _signing_key(store, clock)
    now_s = int(clock.now().timestamp())
    claims: dict[str, Any] = {
        "iss": issuer, "aud": audience, "sub": device_id, "role": DEVICE_ROLE,
        "iat": now_s, "exp": now_s + ttl_s, "jti": secrets.token_urlsafe(16),
    }  # fmt: skip
    token = DEVICE_PREFIX + jwt.encode(claims, key, algorithm=ALGORITHM, headers={"kid": kid})
    record = TokenRecord(digest(token), device_id, DEVICE_ROLE, to_ms(clock.now()), False, None)
    with store.transaction() as tx:
        tx.add_token(record)
    return token


def verify_device_token(
    store: Store,
    token: str,
    *,
    clock: Clock,
    audience: str = DEFAULT_AUDIENCE,
    issuer: str = DEFAULT_ISSUER,
) -> Principal:
    """The device a credential names (Actor role "device", name the device's id)."""
    unknown = CharterError(Reason.UNAUTHENTICATED, "the device credential is unknown or revoked")
    if not token.startswith(DEVICE_PREFIX):
        raise unknown
    raw = token[len(DEVICE_PREFIX) :]
    try:
        kid = jwt.get_unverified_header(raw).get("kid")
    except jwt.PyJWTError:
        raise unknown from None
    keys = {k.kid: k for k in store.issuer_keys()}
    if not isinstance(kid, str) or kid not in keys:
        raise unknown
    private = serialization.load_pem_private_key(keys[kid].private_pem.encode(), password=None)
    assert isinstance(private, Ed25519PrivateKey)
    claims = decode_claims(raw, private.public_key(), clock=clock, audience=audience, issuer=issuer)
    record = store.get_token(digest(token))
    if record is None or record.revoked or claims.get("role") != DEVICE_ROLE:
        raise unknown
    actor = Actor(name=str(claims["sub"])[:200], role=DEVICE_ROLE)
    return Principal(actor, digest(token)[:32], int(claims["exp"] * 1000))
