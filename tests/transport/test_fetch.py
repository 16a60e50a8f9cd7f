"""The worker's fetch: the first message is never left behind, and the batch follows
the backlog (no services needed)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

import nats.errors
import nats.js.errors
import pytest

from charter.transport.worker import FILL_S, Worker


class _Link:
    def call(self, coro: Coroutine[Any, Any, Any], timeout: float | None = 30) -> Any:
        return asyncio.run(coro)


@dataclass
class _Meta:
    num_pending: int


@dataclass
class _Msg:
    name: str
    metadata: _Meta


def _msgs(*names: str, pending: int = 0) -> list[_Msg]:
    return [_Msg(n, _Meta(pending)) for n in names]


class _Sub:
    """A pull subscription whose top-up fails the way it can under load."""

    def __init__(self, first: list[_Msg], top_up: BaseException | list[_Msg]) -> None:
        self.first, self.top_up = first, top_up
        self.calls: list[tuple[int, float]] = []

    async def fetch(self, batch: int, timeout: float) -> list[_Msg]:
        self.calls.append((batch, timeout))
        if batch == 1:
            return self.first
        if isinstance(self.top_up, BaseException):
            raise self.top_up
        return self.top_up[:batch]


def _worker(sub: _Sub, batch: int = 256, small_batch: int = 16) -> Worker:
    w = Worker.__new__(Worker)
    w.link, w._sub, w.batch = _Link(), sub, batch  # type: ignore[assignment]
    w.small_batch = small_batch
    return w


def _names(msgs: list[Any]) -> list[str]:
    return [m.name for m in msgs]


@pytest.mark.parametrize(
    "failure",
    [
        TimeoutError(),  # nats-py's own deadline check (asyncio's)
        nats.errors.TimeoutError(),
        nats.js.errors.FetchTimeoutError(),
        nats.errors.ConnectionReconnectingError(),
    ],
)
def test_a_failed_top_up_keeps_the_first_message(failure: BaseException) -> None:
    sub = _Sub(_msgs("m1", pending=1000), failure)
    assert _names(_worker(sub)._fetch(1.0)) == ["m1"]
    assert [b for b, _ in sub.calls] == [1, 255] and sub.calls[1][1] == FILL_S


def test_a_backlog_gives_a_full_batch_at_once() -> None:
    sub = _Sub(_msgs("m1", pending=1000), _msgs(*(f"m{i}" for i in range(2, 1001))))
    got = _worker(sub)._fetch(1.0)
    assert len(got) == 256 and got[0].name == "m1"
    assert [b for b, _ in sub.calls] == [1, 255]


def test_without_a_backlog_a_worker_takes_a_small_batch() -> None:
    # 20 more wait: a worker takes its small batch and leaves the rest to the others.
    sub = _Sub(_msgs("m1", pending=20), _msgs(*(f"m{i}" for i in range(2, 22))))
    got = _worker(sub, small_batch=16)._fetch(1.0)
    assert len(got) == 16 and [b for b, _ in sub.calls] == [1, 15]


@pytest.mark.parametrize(
    ("pending", "want"), [(0, 16), (31, 16), (40, 20), (300, 150), (512, 256), (10_000, 256)]
)
def test_a_worker_takes_half_of_a_backlog_up_to_its_batch(pending: int, want: int) -> None:
    assert _worker(_Sub([], []), batch=256, small_batch=16).want(pending) == want


def test_a_quiet_stream_returns_nothing_after_the_timeout() -> None:
    sub = _Sub([], [])
    assert _worker(sub)._fetch(0.05) == []
    assert all(b == 1 for b, _ in sub.calls)
