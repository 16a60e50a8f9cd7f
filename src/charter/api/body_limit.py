"""Request bodies: a size limit before any of it is parsed, and a deadline.

/ingest has its own, larger size limit (the envelope limit) and is left to
its route, but not its deadline: every body must arrive whole within
`body_timeout_s` of its request head, or the client gets 408 and the
connection is let go (a body that never ends holds memory and a connection).
Written as plain ASGI so that a body sent without Content-Length (chunked) is
counted as it streams in, not buffered first. A browser (it asks for text/html)
gets the portal's translated error page instead of problem+json, when the app
hands one in as `page`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from charter.domain.reasons import Reason

Scope = dict[str, Any]
Message = dict[str, Any]
# (scope, reason, status, detail) → an ASGI response (e.g. a Starlette Response), or None.
Page = Callable[[Scope, Reason, int, str], Any]
STATUS = {Reason.REQUEST_TOO_LARGE: 413, Reason.REQUEST_TIMEOUT: 408}


class BodyLimit:
    def __init__(
        self,
        app: Any,
        max_bytes: int,
        exempt: tuple[str, ...] = ("/ingest",),
        body_timeout_s: float = 30.0,
        page: Page | None = None,
    ) -> None:
        self.app, self.max_bytes, self.exempt = app, max_bytes, exempt
        self.body_timeout_s = body_timeout_s
        self.page = page

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sized = scope.get("path") not in self.exempt
        if sized:
            for name, value in scope.get("headers", []):
                if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                    await self._refuse(scope, send, Reason.REQUEST_TOO_LARGE)
                    return
        deadline = time.monotonic() + self.body_timeout_s
        seen = 0
        refused = started = body_done = False

        async def counted() -> Message:
            nonlocal seen, refused, body_done
            if refused:
                return {"type": "http.disconnect"}
            if body_done:
                after: Message = await receive()  # e.g. waiting for the client to go
                return after
            try:
                message: Message = await asyncio.wait_for(
                    receive(), max(0.0, deadline - time.monotonic())
                )
            except TimeoutError:
                refused = True
                if not started:
                    await self._refuse(scope, send, Reason.REQUEST_TIMEOUT)
                return {"type": "http.disconnect"}
            if message["type"] == "http.request":
                body_done = not message.get("more_body", False)
                seen += len(message.get("body", b""))
                if sized and seen > self.max_bytes:
                    # Answer now, and tell the app the client is gone: it stops reading.
                    refused = True
                    await self._refuse(scope, send, Reason.REQUEST_TOO_LARGE)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if not refused:
                started = True
                await send(message)

        await self.app(scope, counted, guarded_send)

    async def _refuse(self, scope: Scope, send: Any, reason: Reason) -> None:
        status = STATUS[reason]
        detail = (
            f"at most {self.max_bytes} bytes"
            if reason is Reason.REQUEST_TOO_LARGE
            else f"the whole body within {self.body_timeout_s:g} s"
        )
        if self.page is not None and _wants_html(scope):
            response = self.page(scope, reason, status, detail)
            if response is not None:
                response.headers["connection"] = "close"

                async def no_body() -> Message:  # the page is sent whole; nothing more is read
                    return {"type": "http.disconnect"}

                await response(scope, no_body, send)
                return
        body = json.dumps(
            {
                "type": "https://charter.example.city/problems/"
                + reason.value.lower().replace("_", "-"),
                "title": reason.sentence,
                "status": status,
                "reason": reason.value,
                "detail": detail,
            }
        ).encode()
        headers = [
            (b"content-type", b"application/problem+json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _wants_html(scope: Scope) -> bool:
    for name, value in scope.get("headers", []):
        if name == b"accept":
            return b"text/html" in value
    return False
