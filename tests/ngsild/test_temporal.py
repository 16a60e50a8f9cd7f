"""NGSI-LD temporal queries and aggregation (pure part)."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

from charter.ngsild.query import QueryError, parse_datetime
from charter.ngsild.temporal import (
    Instance,
    aggregate,
    aggregated,
    content_range,
    normalized,
    parse_aggr_methods,
    parse_duration,
    parse_temporal_query,
    select,
    temporal_values,
)

T0 = parse_datetime("2026-01-01T00:00:00Z")


def series(values: list[object], attr: str = "temperature") -> list[Instance]:
    return [
        Instance(
            attr,
            {"type": "Property", "value": v, "observedAt": f"2026-01-01T{h:02d}:00:00Z"},
            f"urn:ngsi-ld:Instance:{attr}:{h}",
            observed_at=T0 + timedelta(hours=h),
            created_at=T0 + timedelta(hours=h, seconds=1),
        )
        for h, v in enumerate(values)
    ]


def test_timerel_before_after_between() -> None:
    history = series([1, 2, 3, 4, 5])
    before = parse_temporal_query("before", "2026-01-01T02:00:00Z")
    assert [i.value() for i in select(history, before)["temperature"]] == [1, 2]
    after = parse_temporal_query("after", "2026-01-01T02:00:00Z")
    assert [i.value() for i in select(history, after)["temperature"]] == [4, 5]
    between = parse_temporal_query("between", "2026-01-01T01:00:00Z", "2026-01-01T03:00:00Z")
    assert [i.value() for i in select(history, between)["temperature"]] == [2, 3]
    last2 = parse_temporal_query(None, None, last_n="2")
    assert [i.value() for i in select(history, last2)["temperature"]] == [4, 5]
    by_created = parse_temporal_query("before", "2026-01-01T00:00:00.5Z", timeproperty="createdAt")
    assert select(history, by_created) == {}


@pytest.mark.parametrize(
    "args",
    [
        ("sometime", "2026-01-01T00:00:00Z", None, None, None),
        ("before", None, None, None, None),
        ("before", "yesterday", None, None, None),
        ("between", "2026-01-01T00:00:00Z", None, None, None),
        ("between", "2026-01-02T00:00:00Z", "2026-01-01T00:00:00Z", None, None),
        ("after", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", None, None),
        (None, "2026-01-01T00:00:00Z", None, None, None),
        ("after", "2026-01-01T00:00:00Z", None, "generatedAt", None),
        (None, None, None, None, "0"),
        (None, None, None, None, "-3"),
        (None, None, None, None, "many"),
        (None, None, None, None, "100000000"),
    ],
)
def test_bad_temporal_parameters(args: tuple[str | None, ...]) -> None:
    with pytest.raises(QueryError) as err:
        parse_temporal_query(*args)
    assert err.value.status == 400


def test_require_timerel() -> None:
    with pytest.raises(QueryError):
        parse_temporal_query(None, None, require_timerel=True)


def test_aggregation_functions() -> None:
    values = [2, 4, 4, 4, 5, 5, 7, 9]
    assert aggregate("totalCount", values) == 8
    assert aggregate("distinctCount", values) == 5
    assert aggregate("sum", values) == 40
    assert aggregate("avg", values) == 5
    assert aggregate("min", values) == 2
    assert aggregate("max", values) == 9
    assert aggregate("sumsq", values) == 232
    assert aggregate("stddev", values) == pytest.approx(math.sqrt(32 / 7))
    assert aggregate("stddev", [3]) == 0.0
    assert aggregate("sum", [True, False, True]) == 2
    assert aggregate("avg", ["a", "b"]) is None
    assert aggregate("max", ["a", "c", "b"]) == "c"
    assert aggregate("distinctCount", [{"a": 1}, {"a": 1}, {"a": 2}]) == 2
    assert aggregate("sum", [1, float("nan"), 2]) == 3


def test_aggregated_representation_with_periods() -> None:
    history = select(series([1, 2, 3, 4, 5, 6]), parse_temporal_query(None, None))
    query = parse_temporal_query("between", "2026-01-01T00:00:00Z", "2026-01-01T06:00:00Z")
    doc = aggregated(
        "urn:x:1", "T", history, ["sum", "avg", "totalCount"], parse_duration("PT2H"), query
    )
    assert doc["temperature"]["sum"] == [
        [3.0, "2026-01-01T00:00:00.000Z", "2026-01-01T02:00:00.000Z"],
        [7.0, "2026-01-01T02:00:00.000Z", "2026-01-01T04:00:00.000Z"],
        [11.0, "2026-01-01T04:00:00.000Z", "2026-01-01T06:00:00.000Z"],
    ]
    assert [r[0] for r in doc["temperature"]["avg"]] == [1.5, 3.5, 5.5]
    whole = aggregated("urn:x:1", "T", history, ["max"], parse_duration("P0D"), query)
    assert whole["temperature"]["max"] == [
        [6.0, "2026-01-01T00:00:00.000Z", "2026-01-01T06:00:00.000Z"]
    ]


def test_empty_periods_are_skipped_and_bounded() -> None:
    sparse = [
        Instance("t", {"type": "Property", "value": 1}, "a", observed_at=T0),
        Instance("t", {"type": "Property", "value": 2}, "b", observed_at=T0 + timedelta(days=300)),
    ]
    history = select(sparse, parse_temporal_query(None, None))
    doc = aggregated(
        "urn:x:1",
        "T",
        history,
        ["totalCount"],
        parse_duration("PT1M"),
        parse_temporal_query(None, None),
    )
    assert [r[0] for r in doc["t"]["totalCount"]] == [1, 1]


def test_durations() -> None:
    assert parse_duration("PT1H").delta == timedelta(hours=1)
    assert parse_duration("P1DT30M").delta == timedelta(days=1, minutes=30)
    assert parse_duration("P1W").delta == timedelta(weeks=1)
    month = parse_duration("P1M")
    assert month.add_to(parse_datetime("2026-01-31T00:00:00Z")) == parse_datetime(
        "2026-02-28T00:00:00Z"
    )
    assert parse_duration("P1Y").add_to(T0) == parse_datetime("2027-01-01T00:00:00Z")
    assert parse_duration("P0D").zero
    for bad in ("", "P", "PT", "1H", "PT1.5H", "P-1D", "P1" + "0" * 80 + "D", "P99999999999Y"):
        with pytest.raises(QueryError):
            parse_duration(bad)


def test_aggr_methods() -> None:
    assert parse_aggr_methods("sum,avg,sum") == ["sum", "avg"]
    for bad in (None, "", "median", "sum,median"):
        with pytest.raises(QueryError):
            parse_aggr_methods(bad)


def test_normalized_and_temporal_values() -> None:
    history = select(series([20, 21]), parse_temporal_query(None, None))
    doc = normalized("urn:x:1", "T", history)
    assert [i["value"] for i in doc["temperature"]] == [20, 21]
    assert doc["temperature"][0]["instanceId"] == "urn:ngsi-ld:Instance:temperature:0"
    assert "createdAt" not in doc["temperature"][0]
    assert "createdAt" in normalized("urn:x:1", "T", history, sys_attrs=True)["temperature"][0]
    simple = temporal_values("urn:x:1", "T", history)
    assert simple["temperature"] == {
        "type": "Property",
        "values": [[20, "2026-01-01T00:00:00.000Z"], [21, "2026-01-01T01:00:00.000Z"]],
    }
    rel = [Instance("owner", {"type": "Relationship", "object": "urn:p:1"}, "i", observed_at=T0)]
    assert temporal_values("urn:x:1", "T", {"owner": rel})["owner"] == {
        "type": "Relationship",
        "objects": [["urn:p:1", "2026-01-01T00:00:00.000Z"]],
    }


def test_content_range() -> None:
    assert (
        content_range(T0, T0 + timedelta(hours=1))
        == "date-time 2026-01-01T00:00:00.000Z-2026-01-01T01:00:00.000Z/*"
    )
