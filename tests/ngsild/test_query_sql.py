"""The q → SQL prefilter never drops a match (SQLite and PostgreSQL), and does filter."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Column, Engine, MetaData, String, Table, Text, create_engine, select

from charter.ngsild.query import parse_q
from charter.ngsild.query_eval import evaluate
from charter.ngsild.query_sql import compile_sql

V = "https://example.org/vocab/"

ENTITIES: list[dict[str, Any]] = [
    {"temperature": [{"type": "Property", "value": 25.5}], "brandName": [{"type": "Property", "value": "Swift"}]},  # noqa: E501
    {"temperature": [{"type": "Property", "value": 10}], "brandName": [{"type": "Property", "value": "Mazda"}]},  # noqa: E501
    {"temperature": [{"type": "Property", "value": "hot"}]},
    {"temperature": [{"type": "Property", "value": [5, 30]}]},
    {"temperature": [{"type": "Property", "value": 1, "datasetId": "urn:a"}, {"type": "Property", "value": 40, "datasetId": "urn:b"}]},  # noqa: E501
    {"electric": [{"type": "Property", "value": True}]},
    {"electric": [{"type": "Property", "value": False}]},
    {"owner": [{"type": "Relationship", "object": "urn:ngsi-ld:Person:Bob"}]},
    {"brandName": [{"type": "LanguageProperty", "languageMap": {"en": "Swift"}}]},
    {},
]  # fmt: skip

QUERIES = [
    "temperature",
    "temperature>20",
    "temperature<=10",
    "temperature==10",
    "temperature==5..26",
    "temperature==10,25.5",
    'temperature=="hot"',
    'brandName=="Swift"',
    'brandName=="Swift","Mazda"',
    'brandName>"M"',
    "brandName~=^Sw",
    "electric==true",
    "electric==false",
    "owner==urn:ngsi-ld:Person:Bob",
    "temperature>20;brandName",
    "temperature>20|electric==true",
    "temperature!=10",
    "(temperature>20|electric);brandName~=S",
]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def table(request: pytest.FixtureRequest) -> Iterator[tuple[Engine, Table]]:
    if request.param == "sqlite":
        engine = create_engine("sqlite://")
        yield from _with_rows(engine)
        return
    from tests.services import pg_database

    with pg_database() as url:
        engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
        yield from _with_rows(engine)
        engine.dispose()


def _with_rows(engine: Engine) -> Iterator[tuple[Engine, Table]]:
    meta = MetaData()
    t = Table("e", meta, Column("id", String(100), primary_key=True), Column("doc", Text))
    meta.create_all(engine)
    with engine.begin() as conn:
        for i, attrs in enumerate(ENTITIES):
            doc = {"type": [V + "T"], "attrs": {V + k: v for k, v in attrs.items()}}
            conn.execute(t.insert().values(id=f"urn:e:{i}", doc=json.dumps(doc)))
    yield engine, t


def _view(attrs: dict[str, Any]) -> dict[str, Any]:
    return {V + k: v for k, v in attrs.items()}


@pytest.mark.parametrize("q", QUERIES)
def test_prefilter_is_a_superset(table: tuple[Engine, Table], q: str) -> None:
    engine, t = table
    node = parse_q(q)
    resolve = lambda term: V + term  # noqa: E731
    expected = {
        f"urn:e:{i}" for i, attrs in enumerate(ENTITIES) if evaluate(node, _view(attrs), resolve)
    }
    where = compile_sql(node, t.c.doc, engine.dialect.name, resolve)
    stmt = select(t.c.id) if where is None else select(t.c.id).where(where)
    with engine.connect() as conn:
        got = {row.id for row in conn.execute(stmt)}
    assert expected <= got


def test_prefilter_filters(table: tuple[Engine, Table]) -> None:
    engine, t = table
    resolve = lambda term: V + term  # noqa: E731
    where = compile_sql(parse_q("temperature>20"), t.c.doc, engine.dialect.name, resolve)
    assert where is not None
    with engine.connect() as conn:
        got = {row.id for row in conn.execute(select(t.c.id).where(where))}
    # 25.5, the array [5, 30] and the two-instance attribute; not 10, "hot" or the rest.
    assert got == {"urn:e:0", "urn:e:3", "urn:e:4"}
