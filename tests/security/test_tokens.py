"""Adversarial: tokens with the wrong role, purpose, expiry, tenant or key; an external OIDC
provider by JWKS; the per-token rate limit; least privilege."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient
from jwt.algorithms import RSAAlgorithm

from charter.api.app import create_app
from charter.auth import Role, authenticate, issue_token
from charter.bootstrap import Platform, build
from charter.domain.clock import FixedClock
from charter.domain.errors import CharterError
from charter.domain.reasons import Reason
from charter.security import roles
from charter.settings import Settings
from tests.api.support import assert_problem, bearer
from tests.conftest import START, SampleCity


def test_a_token_is_a_jwt_of_the_embedded_issuer(client: TestClient, platform: Platform) -> None:
    token = issue_token(platform.store, platform.clock, "ops", Role.OPERATOR)
    claims = jwt.decode(token.removeprefix("chr_"), options={"verify_signature": False})
    assert (claims["sub"], claims["role"], claims["aud"]) == ("ops", "operator", "charter")
    keys = client.get("/auth/jwks").json()["keys"]
    [key] = keys
    assert jwt.PyJWKSet.from_dict({"keys": keys})[key["kid"]].key_type == "OKP"
    public = jwt.PyJWK(key).key
    verified = jwt.decode(
        token.removeprefix("chr_"), public, algorithms=["EdDSA"], audience="charter"
    )
    assert verified["jti"] == claims["jti"]


def test_the_wrong_role_is_forbidden(client: TestClient, platform: Platform) -> None:
    r = client.post("/policy/apply", json={"why": "x"}, headers=bearer(platform, Role.OPERATOR))
    assert_problem(r, 403, "FORBIDDEN")
    r = client.get("/readings", headers=bearer(platform, Role.COUNCIL))
    assert_problem(r, 403, "FORBIDDEN")


def test_an_expired_token_is_refused(
    client: TestClient, platform: Platform, clock: FixedClock
) -> None:
    token = issue_token(platform.store, clock, "temp", Role.AUDITOR, ttl_s=60)
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/readings", headers=headers).status_code == 200
    clock.advance(timedelta(seconds=61))
    r = client.get("/readings", headers=headers)
    assert_problem(r, 401, "TOKEN_EXPIRED")
    assert r.headers["www-authenticate"] == "Bearer"
    assert authenticate(platform.store, token, clock=clock) is None


def test_a_token_for_another_tenant_is_refused(client: TestClient, platform: Platform) -> None:
    token = issue_token(platform.store, platform.clock, "x", Role.AUDITOR, audience="other-city")
    r = client.get("/readings", headers={"Authorization": f"Bearer {token}"})
    assert_problem(r, 401, "WRONG_AUDIENCE")


def test_a_token_signed_by_someone_else_is_refused(
    client: TestClient, platform: Platform, tmp_path: Path
) -> None:
    other = build(Settings(data_dir=tmp_path / "elsewhere"), clock=platform.clock)
    forged = issue_token(other.store, other.clock, "mallory", Role.OPERATOR)
    other.close()
    r = client.get("/readings", headers={"Authorization": f"Bearer {forged}"})
    assert_problem(r, 401, "UNAUTHENTICATED")
    # Re-signing the claims with a made-up key under the real key id fails too.
    real = issue_token(platform.store, platform.clock, "eve", Role.AUDITOR)
    header = jwt.get_unverified_header(real.removeprefix("chr_"))
    claims = jwt.decode(real.removeprefix("chr_"), options={"verify_signature": False})
    claims["role"] = "operator"
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    tampered = "chr_" + jwt.encode(
        claims, Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": header["kid"]}
    )
    r = client.get("/readings", headers={"Authorization": f"Bearer {tampered}"})
    assert_problem(r, 401, "UNAUTHENTICATED")


def test_a_purpose_bound_token_is_used_only_for_its_purpose(
    client: TestClient, platform: Platform
) -> None:
    token = issue_token(
        platform.store, platform.clock, "app", Role.AUDITOR, purposes=["road-safety"]
    )
    headers = {"Authorization": f"Bearer {token}"}
    assert_problem(client.get("/readings", headers=headers), 403, "PURPOSE_NOT_GRANTED")
    r = client.get("/readings", params={"purpose": "marketing"}, headers=headers)
    assert_problem(r, 403, "PURPOSE_NOT_GRANTED")
    r = client.get("/readings", params={"purpose": "road-safety"}, headers=headers)
    assert r.status_code == 200


def test_one_token_flooding_the_api_is_slowed_alone(tmp_path: Path, clock: FixedClock) -> None:
    p = build(Settings(data_dir=tmp_path / "d", token_burst=5, token_rate_per_s=1), clock=clock)
    with TestClient(create_app(p)) as c:
        flood = bearer(p, Role.AUDITOR, "flooder")
        calm = bearer(p, Role.AUDITOR, "calm")
        codes = [c.get("/quarantine", headers=flood).status_code for _ in range(8)]
        assert codes == [200] * 5 + [429] * 3
        r = c.get("/quarantine", headers=flood)
        body = assert_problem(r, 429, "RATE_LIMITED")
        assert int(r.headers["retry-after"]) >= 1 and body["retry_after"] >= 1
        assert c.get("/quarantine", headers=calm).status_code == 200  # others unaffected
        clock.advance(timedelta(seconds=2))
        assert c.get("/quarantine", headers=flood).status_code == 200
    p.close()


def test_a_flooding_device_gets_429_with_retry_after(tmp_path: Path, clock: FixedClock) -> None:
    p = build(Settings(data_dir=tmp_path / "d", device_burst=2, device_rate_per_s=1), clock=clock)
    city = SampleCity(p)
    with TestClient(create_app(p)) as c:
        statuses = [
            c.post("/ingest", content=city.envelope(city.air)).status_code for _ in range(3)
        ]
        assert statuses == [200, 200, 429]
        r = c.post("/ingest", content=city.envelope(city.air))
        assert_problem(r, 429, "RATE_LIMITED")
        assert r.headers["retry-after"] == "1"
        other = SampleCity.device(city, "air-2", *_air())
        assert c.post("/ingest", content=city.envelope(other)).status_code == 200
    p.close()


def _air() -> tuple[str, str, list[str]]:
    from charter.sim import city as sample

    return sample.TRUSTED, sample.AIR, ["air.quality"]


def test_no_role_both_changes_policy_and_reads_personal_data() -> None:
    assert not set(roles.CHANGE_POLICY) & set(roles.READ_PERSONAL)


def test_the_api_guards_follow_the_role_table(client: TestClient, platform: Platform) -> None:
    for role in roles.CHANGE_POLICY:
        r = client.get("/readings", headers=bearer(platform, role))
        assert_problem(r, 403, "FORBIDDEN")


# --- an external OpenID Connect provider ---------------------------------------------


class _Jwks(BaseHTTPRequestHandler):
    doc: bytes = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(self.doc)

    def log_message(self, *args: Any) -> None:
        return None


_SERVED: dict[str, type[_Jwks]] = {}  # what each provider serves, by its JWKS URL


@pytest.fixture
def provider(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Any]]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")  # the JWKS is served locally
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": "kc-1", "use": "sig", "alg": "RS256"})
    handler = type("H", (_Jwks,), {"doc": json.dumps({"keys": [jwk]}).encode()})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}/certs"
    _SERVED[url] = handler
    yield url, key
    server.shutdown()
    server.server_close()
    thread.join()


ISSUER = "http://keycloak.test/realms/city"


def _kc_token(key: Any, **claims: Any) -> str:
    now = int(START.timestamp())
    body = {
        "iss": ISSUER,
        "aud": "charter",
        "sub": "alice",
        "exp": now + 300,
        "iat": now,
        "realm_access": {"roles": ["offline_access", "auditor"]},
        **claims,
    }
    return jwt.encode(body, key, algorithm="RS256", headers={"kid": "kc-1"})


def test_an_external_oidc_provider_is_used_by_configuration(
    tmp_path: Path, clock: FixedClock, provider: tuple[str, Any]
) -> None:
    url, key = provider
    settings = Settings(
        data_dir=tmp_path / "d",
        oidc_issuer=ISSUER,
        oidc_jwks_url=url,
        oidc_role_claim="realm_access.roles",
    )
    p = build(settings, clock=clock)
    with TestClient(create_app(p)) as c:
        ok = c.get("/readings", headers={"Authorization": f"Bearer {_kc_token(key)}"})
        assert ok.status_code == 200, ok.text
        cases = {
            "UNAUTHENTICATED": _kc_token(key, iss="http://evil.test"),
            "WRONG_AUDIENCE": _kc_token(key, aud="other-city"),
            "TOKEN_EXPIRED": _kc_token(key, exp=int(START.timestamp()) - 1),
            "FORBIDDEN": _kc_token(key, realm_access={"roles": ["council"]}),
        }
        for reason, token in cases.items():
            r = c.get("/readings", headers={"Authorization": f"Bearer {token}"})
            assert r.json()["reason"] == reason, (reason, r.text)
        stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        r = c.get("/readings", headers={"Authorization": f"Bearer {_kc_token(stranger)}"})
        assert_problem(r, 401, "UNAUTHENTICATED")
    p.close()


def test_a_key_the_provider_withdrew_stops_verifying_once_its_key_set_is_fetched_again(
    tmp_path: Path, clock: FixedClock, provider: tuple[str, Any]
) -> None:
    """The provider's key set is a per-process copy with a bound (JWKS_LIFESPAN_S), not
    a cache that lives until the process restarts."""
    url, key = provider
    settings = Settings(
        data_dir=tmp_path / "d",
        oidc_issuer=ISSUER,
        oidc_jwks_url=url,
        oidc_role_claim="realm_access.roles",
    )
    p = build(settings, clock=clock)
    tokens = p.security.tokens
    assert tokens.verify(_kc_token(key)).actor.name == "alice"
    # The provider rotates: kc-1 is withdrawn (it leaked, say), kc-2 replaces it.
    successor = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(RSAAlgorithm.to_jwk(successor.public_key()))
    jwk.update({"kid": "kc-2", "use": "sig", "alg": "RS256"})
    _SERVED[url].doc = json.dumps({"keys": [jwk]}).encode()
    jwks = tokens._jwks
    assert jwks is not None and jwks.jwk_set_cache is not None
    jwks.jwk_set_cache.put(None)  # as when JWKS_LIFESPAN_S has passed
    with pytest.raises(CharterError) as e:
        tokens.verify(_kc_token(key))
    assert e.value.reason is Reason.UNAUTHENTICATED
    p.close()


def test_charter_token_revoke_cuts_a_token_off_in_a_running_server(
    tmp_path: Path, clock: FixedClock
) -> None:
    import os
    import subprocess
    import sys

    p = build(Settings(data_dir=tmp_path / "d"), clock=clock)
    token = issue_token(p.store, p.clock, "auditor", Role.AUDITOR)
    with TestClient(create_app(p)) as c:
        auth = {"Authorization": f"Bearer {token}"}
        assert c.get("/quarantine", headers=auth).status_code == 200
        done = subprocess.run(
            [sys.executable, "-m", "charter.cli", "token", "revoke"],
            input=token + "\n",
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "CHARTER_DATA_DIR": str(tmp_path / "d")},
        )
        assert done.returncode == 0, done.stderr
        assert token not in done.stdout + done.stderr
        assert_problem(c.get("/quarantine", headers=auth), 401, "UNAUTHENTICATED")
    p.close()
