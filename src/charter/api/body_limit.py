"""Refuse API request bodies above a size, before any of it is parsed.

/ingest has its own, larger limit (the envelope limit) and is left to its route.
Written as plain ASGI so that a body sent without Content-Length (chunked) is
counted as it streams in, not buffered first.
"""

from __future__ import annotations

import json
from typing import Any

from charter.domain.reasons import Reason

Scope = dict[str, Any]
Message = dict[str, Any]


class BodyLimit:
    def __init__(self, app: Any, max_bytes: int, exempt: tuple[str, ...] = ("/ingest",)) -> None:
        self.app, self.max_bytes, self.exempt = app, max_bytes, exempt

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("path") in self.exempt:
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await self._refuse(send)
                return
        seen = 0
        refused = False

        async def counted() -> Message:
            nonlocal seen, refused
            message: Message = await receive()
            if message["type"] == "http.request" and not refused:
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    # Answer now, and tell the app the client is gone: it stops reading.
                    refused = True
                    await self._refuse(send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not refused:
                await send(message)

        await self.app(scope, counted, guarded_send)

    async def _refuse(self, send: Any) -> None:
        reason = Reason.REQUEST_TOO_LARGE
        body = json.dumps(
            {
                "type": "https://charter.example.city/problems/request-too-large",
                "title": reason.sentence,
                "status": 413,
                "reason": reason.value,
                "detail": f"at most {self.max_bytes} bytes",
            }
        ).encode()
        headers = [
            (b"content-type", b"application/problem+json"),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})
