"""The JOSE decoder behind consent receipts and access grants: never raises, only verifies.

Whatever arrives where a receipt or a grant is expected (a header that is a
list, a string, a number, null, nested deeper than the JSON decoder goes, bad
base64, the wrong algorithm or type) is "not a valid token", never an error.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from charter.keys import SigningKey
from charter.rights import jws

KEY = SigningKey("charter.example.city+ledger", Ed25519PrivateKey.from_private_bytes(bytes(32)))
TYP = "charter-grant+jws"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)
headers = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {"alg": st.sampled_from(["EdDSA", "none", "HS256", "RS256"]) | json_values},
        optional={"typ": st.just(TYP) | json_values, "kid": json_values, "crit": json_values},
    ),
)


def deep(n: int) -> bytes:
    return b"[" * n + b"]" * n


def segment(value: Any) -> st.SearchStrategy[str]:
    return st.one_of(
        st.just(b64(json.dumps(value).encode())),
        st.binary(max_size=64).map(b64),
        st.text(max_size=40),
    )


@settings(max_examples=300, deadline=None)
@given(data=st.data(), header=headers, payload=json_values)
def test_no_token_makes_the_decoder_raise(data: st.DataObject, header: Any, payload: Any) -> None:
    parts = [data.draw(segment(header)), data.draw(segment(payload)), data.draw(segment(None))]
    token = ".".join(parts[: data.draw(st.integers(1, 3))])
    assert jws.verify(token, KEY.public_key, TYP) is None


@settings(max_examples=50, deadline=None)
@given(header=st.sampled_from([b"[1]", b'"x"', b"1", b"null", b"true", deep(100_000)]))
def test_headers_that_are_not_objects_or_nested_too_deep_do_not_verify(header: bytes) -> None:
    signing_input = b64(header) + "." + b64(b"{}")
    token = signing_input + "." + b64(KEY.sign(signing_input.encode()))
    assert jws.verify(token, KEY.public_key, TYP) is None


def test_a_payload_nested_too_deep_or_not_an_object_does_not_verify() -> None:
    head = b64(b'{"alg":"EdDSA","kid":"k","typ":"' + TYP.encode() + b'"}')
    for body in (deep(100_000), b"[1,2]", b"7", b"not json"):
        signing_input = head + "." + b64(body)
        token = signing_input + "." + b64(KEY.sign(signing_input.encode()))
        assert jws.verify(token, KEY.public_key, TYP) is None


@settings(max_examples=100, deadline=None)
@given(payload=st.dictionaries(st.text(max_size=8), json_values, max_size=6))
def test_a_signed_payload_verifies_and_any_change_breaks_it(payload: dict[str, Any]) -> None:
    token = jws.sign(payload, KEY, TYP)
    assert jws.verify(token, KEY.public_key, TYP) == json.loads(jws.canonical(payload))
    assert jws.verify(token, KEY.public_key, "kantara-cr+jws") is None
    other = Ed25519PrivateKey.generate().public_key()
    assert jws.verify(token, other, TYP) is None
    head, _body, sig = token.split(".")
    forged = b64(jws.canonical({**payload, "forged": True}))
    assert jws.verify(f"{head}.{forged}.{sig}", KEY.public_key, TYP) is None


def test_an_unsigned_or_other_algorithm_token_is_refused() -> None:
    body = b64(b'{"sub":"x"}')
    for alg in ("none", "HS256"):
        head = b64(json.dumps({"alg": alg, "typ": TYP}).encode())
        assert jws.verify(f"{head}.{body}.", KEY.public_key, TYP) is None


# Made by the hand-written encoder this module replaced (same key, same claims): tokens
# issued before the change keep verifying, and new ones are byte for byte the same.
OLD_KEY = SigningKey(
    "charter.example.city+ledger", Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
)
OLD_CLAIMS = {"jti": "r1", "sub": "urn:ngsi-ld:Consumer:x", "exp": 1800000000, "é": ["ü", 1.5]}
OLD_TOKEN = (
    "eyJhbGciOiJFZERTQSIsImtpZCI6ImNoYXJ0ZXIuZXhhbXBsZS5jaXR5K2xlZGdlciIsInR5cCI6ImNoYXJ0ZXItZ3"
    "JhbnQrandzIn0.eyJleHAiOjE4MDAwMDAwMDAsImp0aSI6InIxIiwic3ViIjoidXJuOm5nc2ktbGQ6Q29uc3VtZXI6"
    "eCIsIlx1MDBlOSI6WyJcdTAwZmMiLDEuNV19.E6N2UpBsyjlQ_FXgfNvfjnlD0wATfUc55EcNyzTNIogv--M5bNDCA6"
    "hVedaZnd75Vpkpf3HSuDGqUnKO1X-kCQ"
)


def test_the_wire_format_of_earlier_tokens_is_kept() -> None:
    assert jws.verify(OLD_TOKEN, OLD_KEY.public_key, TYP) == OLD_CLAIMS
    assert jws.sign(OLD_CLAIMS, OLD_KEY, TYP) == OLD_TOKEN
