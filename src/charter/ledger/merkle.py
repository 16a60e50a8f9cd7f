"""RFC 6962 / RFC 9162 Merkle tree hashing over stored perfect subtrees.

A persistent log stores the hash of every *perfect* subtree, addressed by
``(level, index)``: the subtree of ``2**level`` leaves starting at leaf
``index * 2**level``.  Perfect subtrees never change once complete, so a store
can write them once, and every root or proof below is assembled from
O(log n) of them instead of rehashing leaves.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

NodeReader = Callable[[int, int], bytes]
"""``(level, index) -> hash`` of a stored perfect subtree (level 0 = leaf hash)."""


def leaf_hash(data: bytes) -> bytes:
    # Domain separation (0x00 vs 0x01) prevents second-preimage attacks.
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """Largest power of two strictly less than ``n`` (n >= 2): the RFC's k."""
    return 1 << ((n - 1).bit_length() - 1)


def _fold(hashes: Sequence[bytes]) -> bytes:
    # Perfect subtrees listed largest first hash together right-to-left,
    # which is exactly how MTH splits at the largest power of two.
    if not hashes:
        return EMPTY_ROOT
    root = hashes[-1]
    for h in reversed(hashes[:-1]):
        root = node_hash(h, root)
    return root


class Frontier:
    """Right frontier of an append-only tree: enough state to append and hash."""

    __slots__ = ("_nodes", "_size")

    def __init__(self) -> None:
        self._nodes: list[tuple[int, bytes]] = []  # (level, hash), largest first
        self._size = 0

    @property
    def size(self) -> int:
        return self._size

    def copy(self) -> Frontier:
        """A frontier to append to tentatively, kept only if the commit succeeds."""
        twin = Frontier()
        twin._nodes, twin._size = list(self._nodes), self._size
        return twin

    @property
    def nodes(self) -> list[tuple[int, bytes]]:
        return list(self._nodes)

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Append leaf *data*; return the perfect subtrees it completed."""
        return self.append_hash(leaf_hash(leaf))

    def append_hash(self, leaf_digest: bytes) -> list[tuple[int, int, bytes]]:
        """Append an already hashed leaf; see :meth:`append`."""
        if len(leaf_digest) != HASH_SIZE:
            raise ValueError(f"leaf hash must be {HASH_SIZE} bytes")
        pos = self._size
        h = leaf_digest
        level = 0
        completed = [(0, pos, h)]
        # Merging equal-sized neighbours is binary carry propagation:
        # amortised O(1) hashes per append.
        while self._nodes and self._nodes[-1][0] == level:
            _, left = self._nodes.pop()
            h = node_hash(left, h)
            level += 1
            completed.append((level, pos >> level, h))
        self._nodes.append((level, h))
        self._size += 1
        return completed

    def root(self) -> bytes:
        return _fold([h for _, h in self._nodes])

    @classmethod
    def from_nodes(cls, size: int, get_node: NodeReader) -> Frontier:
        """Rebuild from storage: one read per set bit of ``size``."""
        if size < 0:
            raise ValueError(f"size must be >= 0, got {size}")
        frontier = cls()
        pos = 0
        for level in range(size.bit_length() - 1, -1, -1):
            if size >> level & 1:
                frontier._nodes.append((level, get_node(level, pos >> level)))
                pos += 1 << level
        frontier._size = size
        return frontier


def subtree_root(start: int, end: int, get_node: NodeReader) -> bytes:
    """MTH of leaves ``[start, end)`` using at most log2(n)+1 node reads.

    The range must be a subtree of some RFC 6962 tree, i.e. ``start`` must be
    a multiple of the largest power of two <= ``end - start``; otherwise the
    RFC split points are not stored perfect subtrees and we refuse rather
    than silently reading O(n) leaves.
    """
    n = end - start
    if start < 0 or n < 0:
        raise ValueError(f"invalid range [{start}, {end})")
    if n == 0:
        return EMPTY_ROOT
    if start % (1 << (n.bit_length() - 1)):
        raise ValueError(f"range [{start}, {end}) is not aligned to a subtree")
    hashes: list[bytes] = []
    pos = start
    for level in range(n.bit_length() - 1, -1, -1):
        if n >> level & 1:
            hashes.append(get_node(level, pos >> level))
            pos += 1 << level
    return _fold(hashes)


def inclusion_proof(index: int, size: int, get_node: NodeReader) -> list[bytes]:
    """RFC 6962 §2.1.1 PATH(index, D[0:size]), leaf-side sibling first."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} out of range for tree size {size}")
    path: list[bytes] = []
    start, end = 0, size
    # Descend from the root; only one sibling can be a non-perfect subtree
    # (once we go left we stay inside a perfect one), so reads are O(log n).
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            path.append(subtree_root(start + k, end, get_node))
            end = start + k
        else:
            path.append(subtree_root(start, start + k, get_node))
            start += k
    path.reverse()
    return path


def consistency_proof(old_size: int, new_size: int, get_node: NodeReader) -> list[bytes]:
    """RFC 6962 §2.1.2 PROOF(old_size, D[0:new_size]).

    ``old_size == 0`` (the empty tree) and ``old_size == new_size`` yield an
    empty proof, as in RFC 9162.
    """
    if old_size < 0 or old_size > new_size:
        raise ValueError(f"invalid consistency range: old_size={old_size}, new_size={new_size}")
    if old_size == 0 or old_size == new_size:
        return []
    proof: list[bytes] = []
    start, end, m = 0, new_size, old_size
    whole_old_tree = True  # SUBPROOF's b flag: is D[start:start+m] the old root?
    while m != end - start:
        k = _split(end - start)
        if m <= k:
            proof.append(subtree_root(start + k, end, get_node))
            end = start + k
        else:
            proof.append(subtree_root(start, start + k, get_node))
            start += k
            m -= k
            whole_old_tree = False
    if not whole_old_tree:
        proof.append(subtree_root(start, end, get_node))
    proof.reverse()
    return proof


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == HASH_SIZE


def _is_proof(value: object) -> bool:
    return isinstance(value, list | tuple) and all(_is_hash(p) for p in value)


def _is_size(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 §2.1.3.2. Returns False on any malformed input, never raises."""
    if not (_is_size(index) and _is_size(size) and index < size):
        return False
    if not (_is_hash(leaf_hash) and _is_hash(root)):
        return False
    if not _is_proof(proof):
        return False
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            return False  # proof longer than the path
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            # Skip levels where this node is the lone right-edge child.
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and hmac.compare_digest(r, root)


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2. Returns False on any malformed input, never raises."""
    if not (_is_size(old_size) and _is_size(new_size) and old_size <= new_size):
        return False
    if not (_is_hash(old_root) and _is_hash(new_root)):
        return False
    if not _is_proof(proof):
        return False
    if old_size == 0:
        # Every tree extends the empty tree; there is nothing to prove.
        return not proof and hmac.compare_digest(old_root, EMPTY_ROOT)
    if old_size == new_size:
        return not proof and hmac.compare_digest(old_root, new_root)
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        # The old tree is itself a perfect subtree, so the RFC omits it.
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and hmac.compare_digest(fr, old_root) and hmac.compare_digest(sr, new_root)
