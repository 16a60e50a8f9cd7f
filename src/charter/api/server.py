"""`charter serve`: uvicorn with limits, so that idle or slow clients cannot starve it.

A reverse proxy in front is the production setup (docs/scaling.md), but the
server must not fall over without one. uvicorn bounds the time between
requests on a kept-alive connection (`timeout_keep_alive`) and answers 503
past `limit_concurrency`, but a connection that never finishes its request
headers is held for ever, and every held connection is an open file: at the
process's limit, `accept` fails and honest clients are not served at all.
`GuardedH11` (uvicorn's h11 protocol, written by hand here because uvicorn
has no such option) adds two things:

* a header timeout: a connection that has not sent a whole request head
  within `http_header_timeout_s` of connecting (or of its last response) is
  closed;
* a connection cap below the open-file limit: when a new connection would pass
  it, the oldest connection that has no request in progress is closed, so idle
  clients give way to working ones.

The request body has its own deadline (`api.body_limit`).
"""

from __future__ import annotations

import asyncio
import gc
import resource
import time
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from charter.settings import Settings

# Open files the process needs besides its clients: databases, logs, keys, the bus.
RESERVED_FILES = 64


class GuardedH11(H11Protocol):
    header_timeout_s: float = 10.0
    max_connections: int = 1000

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self.made_at = time.monotonic()
        self._head_timer: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        self._evict_idle()
        self._arm()

    def _busy(self) -> bool:
        cycle = self.cycle
        return cycle is not None and not cycle.response_complete

    def _evict_idle(self) -> None:
        conns: set[Any] = self.connections
        if len(conns) <= self.max_connections:
            return
        idle = [c for c in conns if c is not self and not c._busy()]
        for c in sorted(idle, key=lambda c: getattr(c, "made_at", 0.0))[
            : len(conns) - self.max_connections
        ]:
            c.transport.close()
        if len(idle) < len(conns) - self.max_connections:
            # Every other connection is working: this one waits its turn elsewhere.
            self.transport.close()

    def _arm(self) -> None:
        self._disarm()
        self._head_timer = self.loop.call_later(self.header_timeout_s, self._head_late)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_late(self) -> None:
        self._head_timer = None
        if not self._busy() and not self.transport.is_closing():
            self.transport.close()

    def handle_events(self) -> None:
        before = self.cycle
        super().handle_events()
        if self.cycle is not before:
            self._disarm()  # a whole request head came in: the body has its own deadline

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


def open_file_limit() -> int:
    """Raise the soft open-file limit to the hard one; returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    return int(soft)


def protocol(settings: Settings) -> type[GuardedH11]:
    files = open_file_limit()
    cap = max(8, min(settings.http_max_connections, files - RESERVED_FILES))
    return type(
        "CharterH11",
        (GuardedH11,),
        {"header_timeout_s": settings.http_header_timeout_s, "max_connections": cap},
    )


def config(app: Any, settings: Settings) -> uvicorn.Config:
    proto = protocol(settings)
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        http=proto,
        # Past this many connections or requests at once, uvicorn answers 503.
        limit_concurrency=proto.max_connections + 1,
        timeout_keep_alive=settings.http_keep_alive_s,
        backlog=min(2048, proto.max_connections),
    )


def tune_gc() -> None:
    """Everything the started server holds (modules, the app, caches) moves out of the
    cyclic collector's view, and the youngest generation is collected less often: a
    request that allocates much (a 1 000-entity batch, a page of 100 entities) otherwise
    pays for full collections over the whole heap (measured: a third of a batch upsert)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)


def run(app: Any, settings: Settings) -> None:
    tune_gc()
    uvicorn.Server(config(app, settings)).run()
