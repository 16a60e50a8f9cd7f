"""`q` answered from the attribute value index (ngsild_attr_values) on SQLite and PostgreSQL.

The index never drops an entity the query matches (the exact evaluation decides the rest),
it does filter, and it follows every write: create, update, replace, delete, retention.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from charter.bootstrap import Platform
from charter.domain.model import Actor
from charter.ngsild import query as ql
from charter.ngsild import query_eval as qe
from charter.ngsild.search import E, indexed_sql
from charter.store.ngsild import EntityRepository, StoredEntity, purge_expired
from tests.ngsild.test_query_sql import ENTITIES, QUERIES

V = "https://example.org/vocab/"
OPERATOR = Actor(name="op", role="operator")

MORE: list[dict[str, Any]] = [
    {"temperature": [{"type": "Property", "value": 2**60}]},  # not exact as a float
    {"temperature": [{"type": "Property", "value": -(2**53)}]},
    {"brandName": [{"type": "Property", "value": "S" * 300}]},  # longer than the index keeps
    {"brandName": [{"type": "Property", "value": "Ärger"}]},
    {"temperature": [{"type": "Property", "value": 30, V + "accuracy": {"type": "Property",
                                                                        "value": 1}}]},
    {"temperature": [{"type": "GeoProperty",
                      "value": {"type": "Point", "coordinates": [1, 2]}}]},
    {"brandName": [{"type": "VocabProperty", "vocab": V + "Swift"}]},
    {"brandName": [{"type": "ListProperty", "valueList": ["Swift", 3]}]},
    {"when": [{"type": "Property", "value": "2026-11-29T12:00:00Z"}]},
]  # fmt: skip

MORE_QUERIES = [
    "temperature>1152921504606846975",
    "temperature<-9007199254740991",
    "temperature==-9007199254740992",
    'brandName=="' + "S" * 300 + '"',
    'brandName>"Z"',
    'brandName=="Swift",3',
    "temperature.accuracy==1",
    "temperature==30",
    "when>2026-11-29T11:00:00Z",
    "brandName~=rg",
    "brandName!~=rg",
    "temperature==20..40;brandName",
]


def _store(platform: Platform, rows: list[dict[str, Any]]) -> EntityRepository:
    repo = platform.ngsild.repo
    with repo.write() as w:
        w.insert_many(
            [
                StoredEntity(
                    "", f"urn:e:{i}", [V + "T"], {V + k: v for k, v in attrs.items()}, 0, 0
                )
                for i, attrs in enumerate(rows)
            ]
        )
    return repo


def _resolve(term: str) -> str:
    return term if term in ql.METADATA else V + term


def _expected(rows: list[dict[str, Any]], q: str) -> set[str]:
    node = ql.parse_q(q)
    out = set()
    for i, attrs in enumerate(rows):
        view: dict[str, Any] = {V + k: v for k, v in attrs.items()}
        view["id"], view["type"] = f"urn:e:{i}", [V + "T"]
        if qe.evaluate(node, view, _resolve):
            out.add(f"urn:e:{i}")
    return out


def _admitted(repo: EntityRepository, q: str) -> set[str]:
    where = indexed_sql(ql.parse_q(q), repo.engine.dialect.name, _resolve)
    stmt = select(E.c.id).where(*repo.filters("", where=where))
    with repo.engine.connect() as conn:
        return {r.id for r in conn.execute(stmt)}


def test_the_index_never_drops_a_match(any_platform: Platform) -> None:
    rows = ENTITIES + MORE
    repo = _store(any_platform, rows)
    for q in QUERIES + MORE_QUERIES:
        assert _expected(rows, q) <= _admitted(repo, q), q


def test_the_index_filters(any_platform: Platform) -> None:
    repo = _store(any_platform, ENTITIES)
    # 25.5, the array [5, 30] and the two-instance attribute; not 10, "hot" or the rest.
    assert _admitted(repo, "temperature>20") == {"urn:e:0", "urn:e:3", "urn:e:4"}
    assert _admitted(repo, 'brandName=="Swift"') == {"urn:e:0", "urn:e:8"}
    assert _admitted(repo, "electric") == {"urn:e:5", "urn:e:6"}


SCALARS = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=5),
    st.booleans(),
)
ATTRIBUTE = st.one_of(
    st.builds(lambda v: [{"type": "Property", "value": v}], SCALARS),
    st.builds(lambda v: [{"type": "Property", "value": v}], st.lists(SCALARS, max_size=3)),
    st.builds(
        lambda a, b: [
            {"type": "Property", "value": a, "datasetId": "urn:a"},
            {"type": "Property", "value": b, "datasetId": "urn:b"},
        ],
        SCALARS,
        SCALARS,
    ),
    st.just([{"type": "Relationship", "object": "urn:x:1"}]),
)
ROWS = st.lists(
    st.dictionaries(st.sampled_from(["a", "b"]), ATTRIBUTE, max_size=2), min_size=1, max_size=6
)
LITERAL = st.one_of(
    st.integers(min_value=-(2**62), max_value=2**62).map(str),
    st.floats(allow_nan=False, allow_infinity=False, width=32).map(repr),
    st.sampled_from(['"x"', '"a"', '""', "true", "false", "urn:x:1", "1..5", '"a".."z"', "1,2"]),
)
QUERY = st.builds(
    lambda attr, op, value: f"{attr}{op}{value}",
    st.sampled_from(["a", "b"]),
    st.sampled_from(["==", "!=", ">", ">=", "<", "<="]),
    LITERAL,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=ROWS, queries=st.lists(QUERY, min_size=1, max_size=4))
def test_the_index_never_drops_a_match_of_any_drawn_query(
    platform: Platform, rows: list[dict[str, Any]], queries: list[str]
) -> None:
    repo = platform.ngsild.repo
    with repo.write() as w:
        for e in repo.query("", limit=100):
            w.delete("", e.id)
    _store(platform, rows)
    for q in queries:
        try:
            ql.parse_q(q)
        except ql.QueryError:
            continue
        assert _expected(rows, q) <= _admitted(repo, q), q


def _ids(platform: Platform, q: str) -> list[str]:
    n = platform.ngsild
    from charter.ngsild import search

    terms = n.contexts.resolve({"temperature": V + "temperature", "health": V + "health"})
    filt, types = search.parse_filter(terms, {"q": q})
    found, _ = search.search(n.entities, OPERATOR, "", filt, types=types, limit=100)
    return [e.id for e in found]


def _prop(value: Any) -> dict[str, list[dict[str, Any]]]:
    return {V + "temperature": [{"type": "Property", "value": value}]}


def test_the_index_follows_every_write(any_platform: Platform) -> None:
    s = any_platform.ngsild.entities
    s.create(OPERATOR, "", "urn:e:1", [V + "T"], None, _prop(10))
    s.create(OPERATOR, "", "urn:e:2", [V + "T"], None, _prop(30))
    assert _ids(any_platform, "temperature>20") == ["urn:e:2"]
    s.partial_update(OPERATOR, "", "urn:e:1", V + "temperature", {"type": "Property", "value": 25})
    assert _ids(any_platform, "temperature>20") == ["urn:e:1", "urn:e:2"]
    s.replace(OPERATOR, "", "urn:e:2", None, None, _prop(5))
    assert _ids(any_platform, "temperature>20") == ["urn:e:1"]
    s.delete_attr(OPERATOR, "", "urn:e:1", V + "temperature")
    assert _ids(any_platform, "temperature") == ["urn:e:2"]
    s.delete(OPERATOR, "", "urn:e:2")
    assert _ids(any_platform, "temperature") == []


def test_the_index_and_the_types_follow_batch_upserts(any_platform: Platform) -> None:
    """A batch over existing entities rewrites their rows in one statement per table: each
    entity's value rows and types are its own afterwards, and no other entity's."""
    from charter.ngsild.batch import Fragment, batch_write

    s = any_platform.ngsild.entities

    def batch(mode: Any, *items: tuple[str, list[str], Any]) -> None:
        fragments = [Fragment(i, types, None, _prop(v)) for i, types, v in items]
        assert not batch_write(s, OPERATOR, "", fragments, mode).errors

    batch("upsert-replace", ("urn:e:1", [V + "T"], 10), ("urn:e:2", [V + "T"], 30),
          ("urn:e:3", [V + "T"], 50))  # fmt: skip
    assert _ids(any_platform, "temperature>20") == ["urn:e:2", "urn:e:3"]
    # replace two of them (one with a new type), leave the third alone
    batch("upsert-replace", ("urn:e:1", [V + "T", V + "U"], 40), ("urn:e:2", [V + "T"], 5))
    assert _ids(any_platform, "temperature>20") == ["urn:e:1", "urn:e:3"]
    batch("upsert-update", ("urn:e:3", [V + "U"], 1), ("urn:e:4", [V + "U"], 99))
    assert _ids(any_platform, "temperature>20") == ["urn:e:1", "urn:e:4"]
    repo = any_platform.ngsild.repo
    of_type = {t: [e.id for e in repo.query("", types=[V + t], limit=10)] for t in "TU"}
    assert of_type == {"T": ["urn:e:1", "urn:e:2", "urn:e:3"], "U": ["urn:e:1", "urn:e:3",
                                                                    "urn:e:4"]}  # fmt: skip
    assert repo.get("", "urn:e:3").types == [V + "T", V + "U"]  # type: ignore[union-attr]


def test_retention_removes_the_index_rows_too(any_platform: Platform) -> None:
    repo = any_platform.ngsild.repo
    e = StoredEntity("", "urn:e:old", [V + "T"], _prop(1), 0, 0, expires_at=1)
    with repo.write() as w:
        w.insert(e)
    with any_platform.store.transaction() as tx:  # type: ignore[attr-defined]
        assert purge_expired(tx, 2)["entities"] == 1
    from charter.store.schema import ngsild_attr_values

    with repo.engine.connect() as conn:
        assert list(conn.execute(select(ngsild_attr_values))) == []


@pytest.mark.parametrize("q", ['temperature>20;health=="ok"', "temperature==20..40"])
def test_a_query_over_the_index_gives_the_exact_answer(platform: Platform, q: str) -> None:
    s = platform.ngsild.entities
    for i, (t, h) in enumerate([(25, "ok"), (35, "fault"), (15, "ok"), (40, "ok"), (21, "ok")]):
        attrs = _prop(t) | {V + "health": [{"type": "Property", "value": h}]}
        s.create(OPERATOR, "", f"urn:e:{i}", [V + "T"], None, attrs)
    rows = [{"temperature": _prop(t)[V + "temperature"]} for t in (25, 35, 15, 40, 21)]
    for row, h in zip(rows, ["ok", "fault", "ok", "ok", "ok"], strict=True):
        row["health"] = [{"type": "Property", "value": h}]
    assert set(_ids(platform, q)) == _expected(rows, q)
