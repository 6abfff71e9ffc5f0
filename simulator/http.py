"""A small loopback HTTP server base that platform simulators build on.

A simulator subclasses `LoopbackServer` and implements `handle(request) -> SimResponse`.
The server runs a stdlib `ThreadingHTTPServer` on 127.0.0.1 with an OS-chosen port in a
daemon thread, so real client libraries talk to it over real HTTP.
"""

from __future__ import annotations

import json
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True, slots=True)
class SimRequest:
    """One HTTP request as the simulator sees it (header names lower-cased)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes = b""

    def param(self, name: str) -> str | None:
        """Return the first value of query parameter `name`, or None."""
        values = self.query.get(name)
        return values[0] if values else None

    def json(self) -> Any:
        """Decode the body as JSON; raises ValueError when it is not valid JSON."""
        return json.loads(self.body.decode("utf-8"))


@dataclass(slots=True)
class SimResponse:
    """What the simulator answers: status, headers and raw body bytes."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> SimResponse:
    """Build a JSON response with the right content type."""
    merged = {"content-type": "application/json; charset=utf-8"}
    merged.update(headers or {})
    return SimResponse(status=status, body=json.dumps(payload).encode("utf-8"), headers=merged)


class _Server(ThreadingHTTPServer):
    """A threaded server with a listen backlog big enough for bursts of concurrent clients."""

    request_queue_size = 128


class LoopbackServer(ABC):
    """Base of every platform simulator: a threaded HTTP server on 127.0.0.1.

    Subclasses implement `handle`, which is called concurrently from server threads, so
    they must guard their own state with a lock. `start()` returns the base URL;
    `stop()` shuts the server down; both are idempotent. Use as a context manager to
    run the server for the duration of a block. Handlers that block (to simulate
    latency) should wait on `stopping` so `stop()` releases them promptly.
    """

    def __init__(self) -> None:
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._state_lock = threading.Lock()
        self.stopping = threading.Event()

    @abstractmethod
    def handle(self, request: SimRequest) -> SimResponse:
        """Answer one request; called from a server thread."""

    @property
    def base_url(self) -> str:
        """Return http://127.0.0.1:PORT of the running server."""
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not running; call start() first")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> str:
        """Start serving on a random loopback port and return the base URL."""
        with self._state_lock:
            if self._server is None:
                self.stopping.clear()
                server = _Server(("127.0.0.1", 0), _make_handler(self))
                server.daemon_threads = True
                thread = threading.Thread(
                    target=server.serve_forever,
                    kwargs={"poll_interval": 0.05},
                    name=f"{type(self).__name__}-http",
                    daemon=True,
                )
                thread.start()
                self._server, self._thread = server, thread
        return self.base_url

    def stop(self) -> None:
        """Stop serving and release the port."""
        with self._state_lock:
            server, thread = self._server, self._thread
            self._server, self._thread = None, None
        if server is None:
            return
        self.stopping.set()
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _make_handler(owner: LoopbackServer) -> type[BaseHTTPRequestHandler]:
    """Build a request-handler class that forwards every request to `owner.handle`."""

    class _Handler(BaseHTTPRequestHandler):
        server_version = "tactful-simulator/1"

        def _dispatch(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length > 0 else b""
            request = SimRequest(
                method=self.command,
                path=parts.path,
                query=parse_qs(parts.query, keep_blank_values=True),
                headers={name.lower(): value for name, value in self.headers.items()},
                body=body,
            )
            try:
                response = owner.handle(request)
            except Exception as exc:  # a simulator bug must surface as a 500, not a hang
                response = json_response(
                    500,
                    {"title": "Internal Error", "detail": repr(exc), "type": "about:blank", "status": 500},
                )
            try:
                self.send_response(response.status)
                for name, value in response.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(response.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(response.body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (e.g. it timed out); nothing left to tell it

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _dispatch

        def log_message(self, format: str, *args: Any) -> None:
            """Keep test output quiet; simulators keep their own request logs."""

    return _Handler
