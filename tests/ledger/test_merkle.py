from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from charter.ledger.merkle import (
    EMPTY_ROOT,
    Frontier,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    subtree_root,
    verify_consistency,
    verify_inclusion,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
# The team's shared vectors when this checkout sits beside them (as in CI), else
# the copy kept with the tests so that a fresh clone runs on its own.
SHARED = REPO_ROOT.parent / "shared" / "testdata" / "merkle_rfc6962.json"
BUNDLED = Path(__file__).parent / "data" / "merkle_rfc6962.json"
VECTORS = SHARED if SHARED.exists() else BUNDLED

Nodes = dict[tuple[int, int], bytes]


class Tree:
    """In-memory node store filled by Frontier.append, with every root kept."""

    def __init__(self) -> None:
        self.frontier = Frontier()
        self.nodes: Nodes = {}
        self.roots = [EMPTY_ROOT]
        self.reads = 0

    def append(self, data: bytes) -> None:
        for level, index, h in self.frontier.append(data):
            assert (level, index) not in self.nodes
            self.nodes[(level, index)] = h
        self.roots.append(self.frontier.root())

    def get(self, level: int, index: int) -> bytes:
        self.reads += 1
        return self.nodes[(level, index)]


def build(n: int) -> Tree:
    tree = Tree()
    for i in range(n):
        tree.append(i.to_bytes(4, "big"))
    return tree


def reference_mth(leaves: list[bytes]) -> bytes:
    """Straight from RFC 6962 §2.1, over leaf hashes."""
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return node_hash(reference_mth(leaves[:k]), reference_mth(leaves[k:]))


def flip(proof: list[bytes], i: int) -> list[bytes]:
    mutated = list(proof)
    mutated[i] = bytes([mutated[i][0] ^ 1]) + mutated[i][1:]
    return mutated


# --- RFC 6962 test vectors -------------------------------------------------


@pytest.fixture(scope="module")
def vectors() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(VECTORS.read_text())
    return data


@pytest.fixture(scope="module")
def vector_tree(vectors: dict[str, Any]) -> Tree:
    tree = Tree()
    for leaf in vectors["leaves"]:
        tree.append(bytes.fromhex(leaf))
    return tree


def test_primitives() -> None:
    assert hashlib.sha256(b"").digest() == EMPTY_ROOT
    assert leaf_hash(b"x") == hashlib.sha256(b"\x00x").digest()
    assert node_hash(b"a", b"b") == hashlib.sha256(b"\x01ab").digest()


def test_vector_roots(vectors: dict[str, Any], vector_tree: Tree) -> None:
    assert vectors["roots"]
    for size, root in vectors["roots"].items():
        expected = bytes.fromhex(root)
        assert vector_tree.roots[int(size)] == expected
        assert subtree_root(0, int(size), vector_tree.get) == expected
        assert Frontier.from_nodes(int(size), vector_tree.get).root() == expected


def test_vector_inclusion(vectors: dict[str, Any], vector_tree: Tree) -> None:
    assert vectors["inclusion"]
    for case in vectors["inclusion"]:
        index, size = case["leaf_index"], case["tree_size"]
        expected = [bytes.fromhex(h) for h in case["path"]]
        assert inclusion_proof(index, size, vector_tree.get) == expected
        leaf = leaf_hash(bytes.fromhex(vectors["leaves"][index]))
        root = vector_tree.roots[size]
        assert verify_inclusion(leaf, index, size, expected, root)
        assert not verify_inclusion(leaf, index, size, expected, flip([root], 0)[0])
        if size + 1 < len(vector_tree.roots):
            bigger = vector_tree.roots[size + 1]
            assert not verify_inclusion(leaf, index, size + 1, expected, bigger)
        for i in range(len(expected)):
            assert not verify_inclusion(leaf, index, size, flip(expected, i), root)
        if expected:
            assert not verify_inclusion(leaf, index, size, expected[:-1], root)
        assert not verify_inclusion(leaf, index, size, [*expected, root], root)


def test_vector_consistency(vectors: dict[str, Any], vector_tree: Tree) -> None:
    assert vectors["consistency"]
    for case in vectors["consistency"]:
        old, new = case["old_size"], case["new_size"]
        expected = [bytes.fromhex(h) for h in case["proof"]]
        assert consistency_proof(old, new, vector_tree.get) == expected
        old_root, new_root = vector_tree.roots[old], vector_tree.roots[new]
        assert verify_consistency(old, new, old_root, new_root, expected)
        assert not verify_consistency(old, new, old_root, flip([new_root], 0)[0], expected)
        assert not verify_consistency(old, new, flip([old_root], 0)[0], new_root, expected)
        for i in range(len(expected)):
            assert not verify_consistency(old, new, old_root, new_root, flip(expected, i))
        if expected:
            assert not verify_consistency(old, new, old_root, new_root, expected[:-1])
        assert not verify_consistency(old, new, old_root, new_root, [*expected, new_root])


# --- argument validation and malformed input -------------------------------


def test_builders_reject_bad_arguments() -> None:
    tree = build(5)
    for index, size in [(5, 5), (0, 0), (-1, 5)]:
        with pytest.raises(ValueError, match="out of range"):
            inclusion_proof(index, size, tree.get)
    for old, new in [(6, 5), (-1, 5)]:
        with pytest.raises(ValueError, match="invalid consistency"):
            consistency_proof(old, new, tree.get)
    with pytest.raises(ValueError, match="not aligned"):
        subtree_root(1, 3, tree.get)
    with pytest.raises(ValueError, match="invalid range"):
        subtree_root(3, 1, tree.get)
    with pytest.raises(ValueError):
        Frontier.from_nodes(-1, tree.get)
    with pytest.raises(ValueError):
        Frontier().append_hash(b"short")


def test_empty_and_trivial_cases() -> None:
    tree = build(3)
    assert Frontier().root() == EMPTY_ROOT
    assert Frontier().size == 0
    assert subtree_root(2, 2, tree.get) == EMPTY_ROOT
    assert consistency_proof(0, 3, tree.get) == []
    assert verify_consistency(0, 3, EMPTY_ROOT, tree.roots[3], [])
    assert not verify_consistency(0, 3, tree.roots[1], tree.roots[3], [])
    assert not verify_consistency(0, 3, EMPTY_ROOT, tree.roots[3], [EMPTY_ROOT])
    assert verify_consistency(3, 3, tree.roots[3], tree.roots[3], [])
    assert not verify_consistency(3, 3, tree.roots[3], tree.roots[2], [])
    assert not verify_consistency(2, 3, tree.roots[2], tree.roots[3], [])


@pytest.mark.parametrize(
    "args",
    [
        (b"\x00" * 32, 3, 3, [], b"\x00" * 32),  # index == size
        (b"\x00" * 32, -1, 3, [], b"\x00" * 32),
        (b"\x00" * 32, 0, 0, [], b"\x00" * 32),
        (b"short", 0, 1, [], b"short"),
        (b"\x00" * 32, 0, 2, [b"short"], b"\x00" * 32),
        (b"\x00" * 32, 0, 2, ["not bytes"], b"\x00" * 32),
        (b"\x00" * 32, True, 2, [b"\x00" * 32], b"\x00" * 32),
        (None, 0, 1, [], None),
        (b"\x00" * 32, 0, 1, None, b"\x00" * 32),
        (b"\x00" * 32, 0, 2, b"\x00" * 32, b"\x00" * 32),
        (b"\x00" * 32, 0, 1.5, [], b"\x00" * 32),
    ],
)
def test_verify_inclusion_never_raises(args: tuple[Any, ...]) -> None:
    assert verify_inclusion(*args) is False


@pytest.mark.parametrize(
    "args",
    [
        (5, 3, b"\x00" * 32, b"\x00" * 32, []),
        (-1, 3, b"\x00" * 32, b"\x00" * 32, []),
        (1, 3, b"short", b"\x00" * 32, [b"\x00" * 32]),
        (1, 3, b"\x00" * 32, b"\x00" * 32, [b"short"]),
        (1, 3, b"\x00" * 32, b"\x00" * 32, [None]),
        (1, 3, None, None, None),
        (1, 3, b"\x00" * 32, b"\x00" * 32, None),
        (1, 3, b"\x00" * 32, b"\x00" * 32, b"\x00" * 64),
        (1, 3, b"\x00" * 32, b"\x00" * 32, [b"\x00" * 32] * 40),
        ("1", 3, b"\x00" * 32, b"\x00" * 32, []),
    ],
)
def test_verify_consistency_never_raises(args: tuple[Any, ...]) -> None:
    assert verify_consistency(*args) is False


# --- properties -------------------------------------------------------------


@pytest.fixture(scope="module")
def tree300() -> Tree:
    return build(300)


def test_roots_match_reference(tree300: Tree) -> None:
    leaves = [leaf_hash(i.to_bytes(4, "big")) for i in range(300)]
    for size in [0, 1, 2, 3, 7, 8, 9, 100, 255, 256, 257, 300]:
        assert tree300.roots[size] == reference_mth(leaves[:size])


sizes = st.integers(min_value=1, max_value=300)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_inclusion_property(tree300: Tree, data: st.DataObject) -> None:
    size = data.draw(sizes)
    index = data.draw(st.integers(min_value=0, max_value=size - 1))
    leaf = tree300.nodes[(0, index)]
    root = tree300.roots[size]
    proof = inclusion_proof(index, size, tree300.get)
    assert verify_inclusion(leaf, index, size, proof, root)
    if proof:
        i = data.draw(st.integers(min_value=0, max_value=len(proof) - 1))
        assert not verify_inclusion(leaf, index, size, flip(proof, i), root)
    other = data.draw(st.integers(min_value=0, max_value=size))
    if other != index:
        assert not verify_inclusion(leaf, other, size, proof, root)
    assert not verify_inclusion(leaf_hash(b"forged"), index, size, proof, root)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_consistency_property(tree300: Tree, data: st.DataObject) -> None:
    new = data.draw(st.integers(min_value=0, max_value=300))
    old = data.draw(st.integers(min_value=0, max_value=new))
    proof = consistency_proof(old, new, tree300.get)
    old_root, new_root = tree300.roots[old], tree300.roots[new]
    assert verify_consistency(old, new, old_root, new_root, proof)
    if proof:
        i = data.draw(st.integers(min_value=0, max_value=len(proof) - 1))
        assert not verify_consistency(old, new, old_root, new_root, flip(proof, i))
    if 0 < old < new:
        wrong = data.draw(st.integers(min_value=1, max_value=new - 1))
        if wrong != old:
            assert not verify_consistency(wrong, new, tree300.roots[wrong], new_root, proof)
        assert not verify_consistency(old, new, flip([old_root], 0)[0], new_root, proof)


@given(size=st.integers(min_value=0, max_value=300))
def test_from_nodes_reproduces_frontier(tree300: Tree, size: int) -> None:
    tree300.reads = 0
    frontier = Frontier.from_nodes(size, tree300.get)
    assert tree300.reads == size.bit_count()
    assert frontier.size == size
    assert frontier.root() == tree300.roots[size]
    # The rebuilt frontier keeps appending exactly like the original.
    if size < 300:
        frontier.append((size).to_bytes(4, "big"))
        assert frontier.root() == tree300.roots[size + 1]


def test_append_emits_each_node_once(tree300: Tree) -> None:
    # A tree of n leaves has exactly sum(n >> level) perfect subtrees.
    expected = sum(300 >> level for level in range(9))
    assert len(tree300.nodes) == expected


# --- cost: proofs read O(log n) nodes -------------------------------------

BIG = 100_003


@pytest.fixture(scope="module")
def big_tree() -> Tree:
    return build(BIG)


@settings(max_examples=50, deadline=None)
@given(data=st.data())
def test_proofs_read_log_n_nodes(big_tree: Tree, data: st.DataObject) -> None:
    size = data.draw(st.integers(min_value=BIG // 2, max_value=BIG))
    bound = 4 * math.ceil(math.log2(size)) + 4
    index = data.draw(st.integers(min_value=0, max_value=size - 1))
    big_tree.reads = 0
    proof = inclusion_proof(index, size, big_tree.get)
    assert big_tree.reads <= bound
    assert verify_inclusion(big_tree.nodes[(0, index)], index, size, proof, big_tree.roots[size])

    old = data.draw(st.integers(min_value=1, max_value=size))
    big_tree.reads = 0
    cproof = consistency_proof(old, size, big_tree.get)
    assert big_tree.reads <= bound
    assert verify_consistency(old, size, big_tree.roots[old], big_tree.roots[size], cproof)

    big_tree.reads = 0
    assert subtree_root(0, size, big_tree.get) == big_tree.roots[size]
    assert big_tree.reads <= size.bit_length()


def test_the_bundled_vectors_are_the_shared_ones() -> None:
    if SHARED.exists():
        assert BUNDLED.read_bytes() == SHARED.read_bytes()
    assert json.loads(BUNDLED.read_text())["roots"]["8"].startswith("5dc9da79")
