from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given
from hypothesis import strategies as st

from charter.ledger.checkpoint import (
    Checkpoint,
    CheckpointError,
    key_id,
    parse_checkpoint,
    sign_checkpoint,
    verify_checkpoint,
    vkey,
)

ROOT = hashlib.sha256(b"root").digest()
CP = Checkpoint("charter.example/log", 42, ROOT)


@pytest.fixture(scope="module")
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(bytes(range(32)))


@pytest.fixture(scope="module")
def note(key: Ed25519PrivateKey) -> str:
    return sign_checkpoint(CP, "charter.example/log", key)


def test_body_format() -> None:
    root_b64 = base64.b64encode(ROOT).decode()
    assert CP.body() == f"charter.example/log\n42\n{root_b64}\n".encode()


def test_note_format(key: Ed25519PrivateKey, note: str) -> None:
    body, sig_line = note.split("\n\n")
    assert body.encode() + b"\n" == CP.body()
    assert sig_line.startswith("\u2014 charter.example/log ")
    assert sig_line.endswith("\n") and sig_line.count("\n") == 1
    raw = base64.b64decode(sig_line.split(" ")[2])
    pub = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    expected_id = hashlib.sha256(b"charter.example/log\n\x01" + pub).digest()[:4]
    assert raw[:4] == expected_id == key_id("charter.example/log", key.public_key())
    assert len(raw) == 68
    key.public_key().verify(raw[4:], CP.body())


def test_round_trip(key: Ed25519PrivateKey, note: str) -> None:
    cp, sigs = parse_checkpoint(note)
    assert cp == CP
    assert [(name, kid) for name, kid, _ in sigs] == [
        ("charter.example/log", key_id("charter.example/log", key.public_key()))
    ]
    assert verify_checkpoint(note, "charter.example/log", key.public_key()) == CP


def test_vkey(key: Ed25519PrivateKey) -> None:
    pub = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    name, kid, encoded = vkey("charter.example/log", key.public_key()).split("+", 2)
    assert name == "charter.example/log"
    assert bytes.fromhex(kid) == key_id(name, key.public_key())
    assert len(kid) == 8
    assert base64.b64decode(encoded) == b"\x01" + pub


def test_cosigned_note_verifies_each_signer(key: Ed25519PrivateKey, note: str) -> None:
    witness = Ed25519PrivateKey.generate()
    cosig = sign_checkpoint(CP, "witness.example", witness).split("\n\n")[1]
    both = note + cosig
    assert len(parse_checkpoint(both)[1]) == 2
    assert verify_checkpoint(both, "charter.example/log", key.public_key()) == CP
    assert verify_checkpoint(both, "witness.example", witness.public_key()) == CP


def test_wrong_key(note: str) -> None:
    other = Ed25519PrivateKey.generate().public_key()
    with pytest.raises(CheckpointError, match="not signed by"):
        verify_checkpoint(note, "charter.example/log", other)
    with pytest.raises(CheckpointError, match="not signed by"):
        verify_checkpoint(note, "someone-else", other)


def test_same_key_id_bad_signature(key: Ed25519PrivateKey, note: str) -> None:
    body, sig_line = note.split("\n\n")
    prefix, encoded = sig_line.rstrip("\n").rsplit(" ", 1)
    raw = bytearray(base64.b64decode(encoded))
    raw[10] ^= 1
    forged = f"{body}\n\n{prefix} {base64.b64encode(bytes(raw)).decode()}\n"
    with pytest.raises(CheckpointError, match="invalid signature"):
        verify_checkpoint(forged, "charter.example/log", key.public_key())


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("\n42\n", "\n43\n"),
        ("\n42\n", "\n042\n"),
        ("charter.example/log\n", "charter.example/other\n"),
    ],
)
def test_tampered_body(key: Ed25519PrivateKey, note: str, old: str, new: str) -> None:
    tampered = note.replace(old, new, 1)
    assert tampered != note
    with pytest.raises(CheckpointError):
        verify_checkpoint(tampered, "charter.example/log", key.public_key())


def test_tampered_root(key: Ed25519PrivateKey, note: str) -> None:
    old = base64.b64encode(ROOT).decode()
    new = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
    with pytest.raises(CheckpointError, match="invalid signature"):
        verify_checkpoint(note.replace(old, new), "charter.example/log", key.public_key())


def test_missing_signature_line(key: Ed25519PrivateKey, note: str) -> None:
    bare = note.split("\n\n")[0] + "\n\n"
    with pytest.raises(CheckpointError, match="no signature"):
        verify_checkpoint(bare, "charter.example/log", key.public_key())
    with pytest.raises(CheckpointError, match="blank line"):
        parse_checkpoint(CP.body().decode())


ROOT_B64 = base64.b64encode(ROOT).decode()
SIG = "\u2014 k " + base64.b64encode(b"\x00" * 68).decode() + "\n"


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "\n",
        "hello",
        "\n\n",
        "a\nb\nc\n\nd\n",
        f"o\n42\n{ROOT_B64}\n\n{SIG[:-1]}",  # no final newline
        f"o\n42\n{ROOT_B64}\nextension\n\n{SIG}",
        f"o\n-1\n{ROOT_B64}\n\n{SIG}",
        f"o\n4_2\n{ROOT_B64}\n\n{SIG}",
        f"o\n\uff14\n{ROOT_B64}\n\n{SIG}",  # fullwidth digit
        f"o\n42\n{ROOT_B64[:-4]}\n\n{SIG}",  # short root
        f"o\n42\n!!!!\n\n{SIG}",
        f"\n42\n{ROOT_B64}\n\n{SIG}",  # empty origin
        f"o\n42\n{ROOT_B64}\n\n- k AAAA\n",
        f"o\n42\n{ROOT_B64}\n\n\u2014 k\n",
        f"o\n42\n{ROOT_B64}\n\n\u2014 k AAAA\n",  # signature too short
        f"o\n42\n{ROOT_B64}\n\n\u2014 k+x {SIG.split()[2]}\n",
        f"o\n42\n{ROOT_B64}\n\n\u2014 k not*base64\n",
        f"o\n42\n{ROOT_B64}\n\n{SIG}\n{SIG}",
        f"\ud800\n42\n{ROOT_B64}\n\n{SIG}",
        f"o\n42\n{ROOT_B64}\n\n\u2014 \ud800 {SIG.split()[2]}\n",
    ],
)
def test_garbage_raises_checkpoint_error(key: Ed25519PrivateKey, garbage: str) -> None:
    with pytest.raises(CheckpointError):
        verify_checkpoint(garbage, "k", key.public_key())


def test_invalid_checkpoint_values() -> None:
    with pytest.raises(CheckpointError):
        Checkpoint("", 1, ROOT)
    with pytest.raises(CheckpointError):
        Checkpoint("a\nb", 1, ROOT)
    with pytest.raises(CheckpointError):
        Checkpoint("o", -1, ROOT)
    with pytest.raises(CheckpointError):
        Checkpoint("o", 1, b"short")
    with pytest.raises(CheckpointError):
        Checkpoint("\ud800", 1, ROOT)  # lone surrogate: not encodable as UTF-8
    assert issubclass(CheckpointError, ValueError)


@pytest.mark.parametrize("name", ["", "a b", "a+b", "a\tb", "\ud800"])
def test_invalid_key_names(key: Ed25519PrivateKey, name: str) -> None:
    with pytest.raises(ValueError, match="invalid key name"):
        sign_checkpoint(CP, name, key)
    with pytest.raises(ValueError, match="invalid key name"):
        vkey(name, key.public_key())
    with pytest.raises(CheckpointError, match="invalid key name"):
        verify_checkpoint(sign_checkpoint(CP, "k", key), name, key.public_key())


@given(
    origin=st.text(
        alphabet=st.characters(
            min_codepoint=0x20, exclude_characters="\x7f", exclude_categories=["Cs"]
        ),
        min_size=1,
    ),
    size=st.integers(min_value=0, max_value=2**64),
    root=st.binary(min_size=32, max_size=32),
)
def test_round_trip_property(key: Ed25519PrivateKey, origin: str, size: int, root: bytes) -> None:
    cp = Checkpoint(origin, size, root)
    note = sign_checkpoint(cp, "k", key)
    assert verify_checkpoint(note, "k", key.public_key()) == cp
