"""A resident's webhook, for the simulation and the tests: a real HTTP server on
127.0.0.1 that keeps what was POSTed to it, by path."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType


class WebhookInbox:
    HOST = "127.0.0.1"

    def __init__(self, status: int = 204) -> None:
        self.got: dict[str, list[bytes]] = {}
        self.status = status
        lock = threading.Lock()
        inbox = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                with lock:
                    inbox.got.setdefault(self.path, []).append(body)
                self.send_response(inbox.status)
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass  # nothing logged

        self.server = ThreadingHTTPServer((self.HOST, 0), Handler)
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://{self.HOST}:{self.server.server_port}/{path.lstrip('/')}"

    def received(self, path: str) -> list[bytes]:
        return list(self.got.get("/" + path.lstrip("/"), []))

    def __enter__(self) -> WebhookInbox:
        self._thread.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.server.shutdown()
        self.server.server_close()
