"""The road network as the preemption service knows it: roads, the movements through
each signal and their links, the signals' conflicts, what a controller reports of
an approach; and the road geometry the service checks a vehicle's heading against.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Road:
    """One edge of the network: how long, how fast, where it runs, what follows it."""

    id: str
    length: float
    speed: float  # its speed limit, m/s
    shape: tuple[tuple[float, float], ...]
    successors: frozenset[str]


@dataclass(frozen=True)
class Movement:
    """Through one signal from one road to the next: its links, and its whole approach's."""

    controller: str  # the controller's device URN
    links: tuple[int, ...]  # the links from `in` to `out`
    approach: tuple[int, ...]  # every link leaving the `in` road at this signal


@dataclass(frozen=True)
class SignalModel:
    controller: str
    n_links: int
    conflicts: frozenset[tuple[int, int]]  # (a, b), a < b: foes in the junction model

    def conflicting(self, a: int, b: int) -> bool:
        return (min(a, b), max(a, b)) in self.conflicts


@dataclass(frozen=True)
class ApproachState:
    """What a controller reports of some of its links right now."""

    queued: int  # vehicles halted on the longest lane feeding them
    to_green_s: float  # the soonest it can show them all green (0: green now)


@dataclass(frozen=True)
class RoadModel:
    roads: dict[str, Road]
    movements: dict[tuple[str, str], tuple[Movement, ...]]
    signals: dict[str, SignalModel]


def bearing_at(shape: Sequence[tuple[float, float]], pos: float) -> float | None:
    """The road's direction (degrees clockwise from north) `pos` metres along it."""
    run = 0.0
    for (x0, y0), (x1, y1) in itertools.pairwise(shape):
        seg = math.hypot(x1 - x0, y1 - y0)
        if seg <= 0:
            continue
        if run + seg >= pos:
            return math.degrees(math.atan2(x1 - x0, y1 - y0)) % 360.0
        run += seg
    if len(shape) >= 2:
        (x0, y0), (x1, y1) = shape[-2], shape[-1]
        return math.degrees(math.atan2(x1 - x0, y1 - y0)) % 360.0
    return None


def angle_between(a: float, b: float) -> float:
    d = abs(a - b) % 360.0
    return min(d, 360.0 - d)
