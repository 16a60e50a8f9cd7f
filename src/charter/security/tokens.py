"""Verify bearer tokens: the embedded issuer's, and an external OIDC provider's by JWKS.

Any OpenID Connect provider (Keycloak, for one) works by configuration: its
issuer, the URL of its JWKS and the claim that lists roles. Every token must
name this city as its audience: a token of another tenant is refused.
"""

from __future__ import annotations

from typing import Any

import jwt

from charter.auth import PREFIX, Principal, decode_claims, digest, principal, verify_embedded
from charter.domain.clock import Clock
from charter.domain.errors import CharterError
from charter.domain.reasons import Reason
from charter.settings import Settings
from charter.store.base import Store

JWKS_LIFESPAN_S = 300
EXTERNAL_ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384", "PS256", "EdDSA")


class TokenVerifier:
    def __init__(self, store: Store, clock: Clock, settings: Settings) -> None:
        self.store, self.clock, self.settings = store, clock, settings
        self._jwks: jwt.PyJWKClient | None = None
        if settings.oidc_issuer and settings.oidc_jwks_url:
            # The provider's key set is cached for JWKS_LIFESPAN_S, then fetched again:
            # a key it withdrew stops verifying here within that bound. No per-key
            # cache (PyJWT's `cache_keys` never expires: a withdrawn key would have
            # kept verifying in a running process until its restart).
            self._jwks = jwt.PyJWKClient(
                settings.oidc_jwks_url, cache_keys=False, lifespan=JWKS_LIFESPAN_S, timeout=5
            )

    def verify(self, token: str) -> Principal:
        s = self.settings
        if token.startswith(PREFIX):
            return verify_embedded(
                self.store, token, clock=self.clock, audience=s.auth_audience, issuer=s.auth_issuer
            )
        if self._jwks is None or s.oidc_issuer is None:
            raise CharterError(Reason.UNAUTHENTICATED, "the token is unknown or revoked")
        try:
            key: Any = self._jwks.get_signing_key_from_jwt(token).key
        except jwt.PyJWKClientError:
            raise CharterError(
                Reason.UNAUTHENTICATED, "the token's key is not the provider's"
            ) from None
        except jwt.PyJWTError:
            raise CharterError(Reason.UNAUTHENTICATED, "the token is unknown or revoked") from None
        claims = decode_claims(
            token,
            key,
            clock=self.clock,
            audience=s.auth_audience,
            issuer=s.oidc_issuer,
            algorithms=EXTERNAL_ALGORITHMS,
        )
        return principal(claims, s.oidc_role_claim, token_id=digest(token)[:32])
