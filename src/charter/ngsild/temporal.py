"""NGSI-LD temporal evolution (ETSI GS CIM 009 v1.8, clauses 4.5.7-4.5.9, 4.11, 5.7.3-5.7.4).

The pure part: temporal queries (``timerel`` before / after / between, ``timeAt``,
``endTimeAt``, ``timeproperty``, ``lastN``), the three temporal representations (normalized,
``temporalValues`` simplified, aggregated) and the aggregation functions (``aggrMethods``
totalCount, distinctCount, sum, avg, min, max, stddev, sumsq over ``aggrPeriodDuration``
buckets).  The routes in :mod:`charter.ngsild.temporal_api` read the attribute-instance
history from the foundation's repository and call these.

Rules chosen where the spec leaves room (also in docs/ngsi-ld.md):
- ``before`` is strictly before ``timeAt``, ``after`` strictly after, ``between`` is
  ``[timeAt, endTimeAt)``;
- ``stddev`` is the sample standard deviation (n-1; 0 for a single value), as PostgreSQL's
  ``stddev`` used by Scorpio and Stellio;
- sum, avg, stddev and sumsq use numeric values only (booleans count as 0/1 as the spec's
  table allows); min and max also order strings and date-times; distinctCount counts distinct
  JSON values;
- buckets start at ``timeAt`` (or the first instance) and are ``aggrPeriodDuration`` long
  (``P0D``, the default, is one bucket for the whole interval); empty buckets are left out.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from charter.ngsild.query import QueryError, parse_datetime

AGGR_METHODS = ("totalCount", "distinctCount", "sum", "avg", "min", "max", "stddev", "sumsq")
TIMERELS = ("before", "after", "between")
TIME_PROPERTIES = ("observedAt", "createdAt", "modifiedAt", "deletedAt")
MAX_LAST_N = 10_000
MAX_BUCKETS = 10_000


def _bad(detail: str) -> QueryError:
    return QueryError("BadRequestData", "ngsild_bad_temporal_query", detail)


def iso(moment: datetime) -> str:
    """UTC ISO 8601 with a Z and millisecond precision, as NGSI-LD prints times."""
    text = moment.astimezone(UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


# --- ISO 8601 durations --------------------------------------------------------------------

_DURATION = re.compile(
    r"^P(?!$)(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?"
    r"(?:T(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$"
)


@dataclass(frozen=True)
class Duration:
    months: int = 0
    delta: timedelta = field(default_factory=timedelta)

    @property
    def zero(self) -> bool:
        return self.months == 0 and self.delta == timedelta(0)

    def add_to(self, moment: datetime) -> datetime:
        if self.months:
            month0 = moment.month - 1 + self.months
            year, month = moment.year + month0 // 12, month0 % 12 + 1
            days = [31, 29 if _leap(year) else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
            moment = moment.replace(year=year, month=month, day=min(moment.day, days[month - 1]))
        return moment + self.delta


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def parse_duration(text: str) -> Duration:
    """``P1Y2M3W4DT5H6M7.5S`` and parts of it; 400 when not a duration."""
    match = _DURATION.match(text) if len(text) <= 64 else None
    if not match:
        raise _bad("aggrPeriodDuration is not an ISO 8601 duration (for example PT1H)")
    years, months, weeks, days, hours, minutes, seconds = match.groups()
    try:
        delta = timedelta(
            weeks=int(weeks or 0),
            days=int(days or 0),
            hours=int(hours or 0),
            minutes=int(minutes or 0),
            seconds=float(seconds or 0),
        )
    except OverflowError as exc:
        raise _bad("aggrPeriodDuration too long") from exc
    total_months = int(years or 0) * 12 + int(months or 0)
    if total_months > 12 * 10_000:
        raise _bad("aggrPeriodDuration too long")
    return Duration(total_months, delta)


# --- temporal queries ----------------------------------------------------------------------


@dataclass(frozen=True)
class TemporalQuery:
    timerel: str | None = None
    time_at: datetime | None = None
    end_time_at: datetime | None = None
    timeproperty: str = "observedAt"
    last_n: int | None = None

    def admits(self, moment: datetime | None) -> bool:
        if self.timerel is None:
            return True
        if moment is None:
            return False
        assert self.time_at is not None
        if self.timerel == "before":
            return moment < self.time_at
        if self.timerel == "after":
            return moment > self.time_at
        assert self.end_time_at is not None
        return self.time_at <= moment < self.end_time_at


def _time(text: str | None, name: str) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_datetime(text)
    except ValueError as exc:
        raise _bad(f"{name} is not an ISO 8601 date-time") from exc


def parse_temporal_query(
    timerel: str | None,
    time_at: str | None,
    end_time_at: str | None = None,
    timeproperty: str | None = None,
    last_n: str | int | None = None,
    *,
    require_timerel: bool = False,
) -> TemporalQuery:
    """Validate the temporal parameters as the spec rules them; 400 BadRequestData if not."""
    if timerel is None:
        if time_at is not None or end_time_at is not None:
            raise _bad("timeAt and endTimeAt need timerel")
        if require_timerel:
            raise _bad("a temporal query needs timerel and timeAt")
    elif timerel not in TIMERELS:
        raise _bad("timerel must be before, after or between")
    start = _time(time_at, "timeAt")
    end = _time(end_time_at, "endTimeAt")
    if timerel is not None and start is None:
        raise _bad("timerel needs timeAt")
    if timerel == "between":
        if end is None:
            raise _bad("timerel=between needs endTimeAt")
        assert start is not None
        if end <= start:
            raise _bad("endTimeAt must be after timeAt")
    elif end is not None:
        raise _bad("endTimeAt only goes with timerel=between")
    prop = timeproperty or "observedAt"
    if prop not in TIME_PROPERTIES:
        raise _bad("timeproperty must be observedAt, createdAt, modifiedAt or deletedAt")
    n: int | None = None
    if last_n is not None:
        try:
            n = int(last_n)
        except ValueError as exc:
            raise _bad("lastN must be a positive integer") from exc
        if not 1 <= n <= MAX_LAST_N:
            raise _bad(f"lastN must be between 1 and {MAX_LAST_N}")
    return TemporalQuery(timerel, start, end, prop, n)


@dataclass(frozen=True)
class Instance:
    """One attribute instance of the history, compacted (``{"type", "value", ...}``)."""

    attr: str
    data: Mapping[str, Any]
    instance_id: str
    observed_at: datetime | None = None
    created_at: datetime | None = None
    modified_at: datetime | None = None

    def moment(self, prop: str) -> datetime | None:
        if prop == "observedAt":
            return self.observed_at
        if prop == "modifiedAt":
            return self.modified_at or self.created_at
        return self.created_at

    def value(self) -> Any:
        if "object" in self.data and "value" not in self.data:
            return self.data["object"]
        if "languageMap" in self.data:
            return self.data["languageMap"]
        return self.data.get("value")


def select(instances: Iterable[Instance], query: TemporalQuery) -> dict[str, list[Instance]]:
    """Instances per attribute admitted by the query, oldest first (``lastN``: newest N)."""
    out: dict[str, list[Instance]] = {}
    prop = query.timeproperty
    for instance in instances:
        if query.admits(instance.moment(prop)):
            out.setdefault(instance.attr, []).append(instance)
    floor = datetime.min.replace(tzinfo=UTC)
    for attr, items in out.items():
        items.sort(key=lambda i: (i.moment(prop) or floor, i.instance_id))
        if query.last_n is not None:
            out[attr] = items[-query.last_n :]
    return out


# --- representations -----------------------------------------------------------------------


def _instance_doc(instance: Instance, sys_attrs: bool) -> dict[str, Any]:
    doc = dict(instance.data)
    doc["instanceId"] = instance.instance_id
    if sys_attrs:
        if instance.created_at is not None:
            doc["createdAt"] = iso(instance.created_at)
        if instance.modified_at is not None:
            doc["modifiedAt"] = iso(instance.modified_at)
    else:
        doc.pop("createdAt", None)
        doc.pop("modifiedAt", None)
    return doc


def normalized(
    entity_id: str,
    entity_type: Any,
    history: Mapping[str, Sequence[Instance]],
    *,
    sys_attrs: bool = False,
) -> dict[str, Any]:
    """Temporal representation, normalized: each attribute a list of its instances."""
    doc: dict[str, Any] = {"id": entity_id, "type": entity_type}
    for attr, items in history.items():
        doc[attr] = [_instance_doc(i, sys_attrs) for i in items]
    return doc


def temporal_values(
    entity_id: str,
    entity_type: Any,
    history: Mapping[str, Sequence[Instance]],
    timeproperty: str = "observedAt",
) -> dict[str, Any]:
    """Simplified temporal representation (``options=temporalValues``)."""
    doc: dict[str, Any] = {"id": entity_id, "type": entity_type}
    for attr, items in history.items():
        kinds = {str(i.data.get("type", "Property")) for i in items}
        kind = kinds.pop() if len(kinds) == 1 else "Property"
        key = {
            "Relationship": "objects",
            "LanguageProperty": "languageMaps",
            "GeoProperty": "values",
        }.get(kind, "values")
        pairs = []
        for item in items:
            moment = item.moment(timeproperty)
            pairs.append([item.value(), iso(moment) if moment else None])
        doc[attr] = {"type": kind, key: pairs}
    return doc


def _numbers(values: Sequence[Any]) -> list[float]:
    out: list[float] = []
    for value in values:
        if isinstance(value, bool):
            out.append(1.0 if value else 0.0)
        elif isinstance(value, (int, float)) and math.isfinite(value):
            out.append(float(value))
    return out


def _orderable(values: Sequence[Any]) -> list[Any]:
    numbers = _numbers([v for v in values if not isinstance(v, str)])
    if numbers:
        return numbers
    return [v for v in values if isinstance(v, str)]


def aggregate(method: str, values: Sequence[Any]) -> Any:
    """One aggregation over a bucket's values; None when it does not apply."""
    if method == "totalCount":
        return len(values)
    if method == "distinctCount":
        return len({json.dumps(v, sort_keys=True, default=str) for v in values})
    if method in ("min", "max"):
        ordered = _orderable(values)
        if not ordered:
            return None
        return min(ordered) if method == "min" else max(ordered)
    numbers = _numbers(values)
    if not numbers:
        return None
    if method == "sum":
        return math.fsum(numbers)
    if method == "avg":
        return math.fsum(numbers) / len(numbers)
    if method == "sumsq":
        return math.fsum(n * n for n in numbers)
    if method == "stddev":
        if len(numbers) < 2:
            return 0.0
        mean = math.fsum(numbers) / len(numbers)
        return math.sqrt(math.fsum((n - mean) ** 2 for n in numbers) / (len(numbers) - 1))
    raise _bad("aggrMethods must be among " + ", ".join(AGGR_METHODS))


def parse_aggr_methods(text: str | None) -> list[str]:
    if not text:
        raise _bad("options=aggregatedValues needs aggrMethods")
    methods = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in methods if m not in AGGR_METHODS]
    if unknown or not methods:
        raise _bad("aggrMethods must be among " + ", ".join(AGGR_METHODS))
    return list(dict.fromkeys(methods))


def aggregated(
    entity_id: str,
    entity_type: Any,
    history: Mapping[str, Sequence[Instance]],
    methods: Sequence[str],
    period: Duration,
    query: TemporalQuery,
) -> dict[str, Any]:
    """Aggregated temporal representation: per attribute, per method, [value, start, end]."""
    doc: dict[str, Any] = {"id": entity_id, "type": entity_type}
    prop = query.timeproperty
    for attr, items in history.items():
        timed = [(i.moment(prop), i) for i in items]
        stamped = [(m, i) for m, i in timed if m is not None]
        if not stamped:
            continue
        first = query.time_at if query.timerel in ("after", "between") else stamped[0][0]
        assert first is not None
        last = query.end_time_at if query.timerel == "between" else None
        if last is None:
            last = (
                query.time_at
                if query.timerel == "before" and query.time_at
                else stamped[-1][0] + timedelta(milliseconds=1)
            )
        buckets: list[tuple[datetime, datetime, list[Any]]] = []
        if period.zero:
            buckets.append((first, last, [i.value() for _, i in stamped]))
        else:
            start = first
            index = 0
            while start < last and index < len(stamped):
                end = period.add_to(start)
                if end <= start:
                    raise _bad("aggrPeriodDuration must be positive")
                if len(buckets) >= MAX_BUCKETS:
                    raise QueryError(
                        "TooComplexQuery",
                        "ngsild_query_too_complex",
                        f"more than {MAX_BUCKETS} aggregation periods",
                    )
                values: list[Any] = []
                while index < len(stamped) and stamped[index][0] < end:
                    if stamped[index][0] >= start:
                        values.append(stamped[index][1].value())
                    index += 1
                if values:
                    buckets.append((start, min(end, last), values))
                start = end
                if not values and index < len(stamped):
                    # jump over empty stretches without counting them one by one
                    gap = stamped[index][0] - start
                    if period.months == 0 and gap > period.delta:
                        start += period.delta * (gap // period.delta)
                    while period.add_to(start) <= stamped[index][0]:
                        start = period.add_to(start)
        kinds = {str(i.data.get("type", "Property")) for _, i in stamped}
        entry: dict[str, Any] = {"type": kinds.pop() if len(kinds) == 1 else "Property"}
        for method in methods:
            results = []
            for start, end, values in buckets:
                result = aggregate(method, values)
                results.append([result, iso(start), iso(end)])
            entry[method] = results
        doc[attr] = entry
    return doc


def content_range(first: datetime, last: datetime, total: int | None = None) -> str:
    """The Content-Range header of a 206 partial temporal answer (clause 6.3.10)."""
    size = "*" if total is None else str(total)
    return f"date-time {iso(first)}-{iso(last)}/{size}"


# --- the service over the attribute history -------------------------------------------------

MAX_INSTANCES = 1000  # per attribute in one answer; more: 206 with Content-Range


def instances_of(
    repo: Any, tenant: str, entity_id: str, now_ms: int, attrs: Sequence[str] | None = None
) -> list[Instance]:
    """The entity's history as :class:`Instance` (expired instances left out: retention)."""
    rows = repo.instances(tenant, entity_id)
    out: list[Instance] = []
    for row in rows:
        if row.deleted:
            continue
        if row.expires_at is not None and row.expires_at <= now_ms:
            continue
        if attrs is not None and row.attr not in attrs:
            continue
        data = dict(row.value)
        observed = row.observed_at
        out.append(
            Instance(
                row.attr,
                data,
                row.instance_id,
                observed_at=_from_ms(observed) if observed is not None else None,
                created_at=_from_ms(row.recorded_at),
                modified_at=_from_ms(row.recorded_at),
            )
        )
    return out


def _from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def truncate(
    history: dict[str, list[Instance]], query: TemporalQuery, limit: int | None = None
) -> tuple[dict[str, list[Instance]], str | None]:
    """At most ``limit`` instances per attribute; the Content-Range when some were left out."""
    limit = MAX_INSTANCES if limit is None else limit
    cut = False
    out: dict[str, list[Instance]] = {}
    first: datetime | None = None
    last: datetime | None = None
    prop = query.timeproperty
    for attr, items in history.items():
        if len(items) > limit:
            cut = True
            items = items[-limit:] if query.timerel == "before" else items[:limit]
        out[attr] = items
        stamps = [m for m in (i.moment(prop) for i in items) if m is not None]
        if stamps:
            first = min(stamps) if first is None else min(first, min(stamps))
            last = max(stamps) if last is None else max(last, max(stamps))
    if not cut or first is None or last is None:
        return out, None
    return out, content_range(first, last)
