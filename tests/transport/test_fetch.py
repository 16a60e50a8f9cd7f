"""The worker's fetch: the first message is never left behind (no services needed)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import nats.errors
import nats.js.errors
import pytest

from charter.transport.worker import FILL_S, Worker


class _Link:
    def call(self, coro: Coroutine[Any, Any, Any], timeout: float | None = 30) -> Any:
        return asyncio.run(coro)


class _Sub:
    """A pull subscription whose top-up fails the way it can under load."""

    def __init__(self, first: list[str], top_up: BaseException | list[str]) -> None:
        self.first, self.top_up = first, top_up
        self.calls: list[tuple[int, float]] = []

    async def fetch(self, batch: int, timeout: float) -> list[str]:
        self.calls.append((batch, timeout))
        if batch == 1:
            return self.first
        if isinstance(self.top_up, BaseException):
            raise self.top_up
        return self.top_up


def _worker(sub: _Sub, batch: int = 256) -> Worker:
    w = Worker.__new__(Worker)
    w.link, w._sub, w.batch = _Link(), sub, batch  # type: ignore[assignment]
    return w


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
    sub = _Sub(["m1"], failure)
    assert _worker(sub)._fetch(1.0) == ["m1"]
    assert [b for b, _ in sub.calls] == [1, 255] and sub.calls[1][1] == FILL_S


def test_a_busy_stream_gives_a_full_batch_at_once() -> None:
    sub = _Sub(["m1"], [f"m{i}" for i in range(2, 257)])
    got = _worker(sub)._fetch(1.0)
    assert len(got) == 256 and got[0] == "m1"
    assert [b for b, _ in sub.calls] == [1, 255]


def test_a_quiet_stream_returns_nothing_after_the_timeout() -> None:
    sub = _Sub([], [])
    assert _worker(sub)._fetch(0.05) == []
    assert all(b == 1 for b, _ in sub.calls)
