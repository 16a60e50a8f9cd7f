"""The constraints a grant may carry, checked when it is granted.

A grant's constraints are part of what an owner decides, so a value that the
read could not honour (a negative or non-integer `max_readings`, a field the
dataset does not declare) is refused at the decision, with `BAD_CONSTRAINT`,
instead of failing at every later read.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from charter.domain.errors import CharterError
from charter.domain.model import DataCategory
from charter.domain.reasons import Reason

KNOWN = frozenset({"max_readings", "fields"})
MAX_READINGS = 10_000  # the most one read returns (the API's page limit)


def check(raw: dict[str, Any], categories: Iterable[DataCategory]) -> dict[str, Any]:
    """The constraints as they will be stored; raises BAD_CONSTRAINT on any other value."""
    unknown = set(raw) - KNOWN
    if unknown:
        raise CharterError(
            Reason.BAD_CONSTRAINT,
            # Not the unknown names themselves: they are what the caller sent.
            f"unknown constraints; known: {sorted(KNOWN)}",
        )
    out: dict[str, Any] = {}
    if "max_readings" in raw:
        n = raw["max_readings"]
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_READINGS:
            raise CharterError(
                Reason.BAD_CONSTRAINT, f"max_readings must be a whole number 1..{MAX_READINGS}"
            )
        out["max_readings"] = n
    if "fields" in raw:
        fields = raw["fields"]
        declared = {name for c in categories for name in c.fields if name != c.identifier}
        if (
            not isinstance(fields, list)
            or not all(isinstance(f, str) for f in fields)
            or not set(fields) <= declared
        ):
            raise CharterError(
                Reason.BAD_CONSTRAINT,
                "fields must be a list (empty: no values) of the granted categories' fields "
                f"({', '.join(sorted(declared))})",
            )
        out["fields"] = sorted(set(fields))
    return out
