"""A small loopback HTTP server base that platform simulators build on.

A simulator subclasses `LoopbackServer` and implements `handle(request) -> SimResponse`.
The server runs a stdlib `ThreadingHTTPServer` on 127.0.0.1 with an OS-chosen port in a
daemon thread, so real client libraries talk to it over real HTTP.
"""

from __future__ import annotations

import http
import json
import math
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from simulator.faults import FaultKind, FaultPlan, InjectedFault


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
        self.fault_plan = FaultPlan()

    @abstractmethod
    def handle(self, request: SimRequest) -> SimResponse:
        """Answer one request; called from a server thread."""

    # --- random faults (simulator.faults) ---------------------------------------------------

    def set_fault_rate(
        self,
        status: int = 500,
        rate: float = 0.1,
        *,
        methods: Iterable[str] | None = None,
        paths: Iterable[str] | None = None,
        limit: int | None = None,
    ) -> None:
        """Answer a `rate` share of matching requests with `status` and the platform's error body."""
        fault = InjectedFault(FaultKind.STATUS, status=status)
        self.fault_plan.add(fault, rate, methods=methods, paths=paths, limit=limit)

    def set_throttle_rate(
        self,
        rate: float,
        *,
        retry_after: float = 1.0,
        code: int | None = None,
        methods: Iterable[str] | None = None,
        paths: Iterable[str] | None = None,
        limit: int | None = None,
    ) -> None:
        """Throttle a `rate` share of matching requests the platform's way, for `retry_after` seconds.

        `code` picks the platform's error code where it has several (Graph: 4, 17, 32, ...).
        """
        fault = InjectedFault(FaultKind.THROTTLE, retry_after=retry_after, code=code)
        self.fault_plan.add(fault, rate, methods=methods, paths=paths, limit=limit)

    def set_drop_rate(
        self,
        rate: float,
        *,
        after_effect: bool = False,
        methods: Iterable[str] | None = None,
        paths: Iterable[str] | None = None,
        limit: int | None = None,
    ) -> None:
        """Close a `rate` share of matching connections without an answer (after acting, if `after_effect`)."""
        fault = InjectedFault(FaultKind.DROP, after_effect=after_effect)
        self.fault_plan.add(fault, rate, methods=methods, paths=paths, limit=limit)

    def set_malformed_rate(
        self,
        rate: float,
        *,
        shape: str = "truncated",
        methods: Iterable[str] | None = None,
        paths: Iterable[str] | None = None,
        limit: int | None = None,
    ) -> None:
        """Answer a `rate` share of matching requests with a 200 whose body is truncated or mis-shaped."""
        fault = InjectedFault(FaultKind.MALFORMED, shape=shape)
        self.fault_plan.add(fault, rate, methods=methods, paths=paths, limit=limit)

    def set_delay_rate(
        self,
        rate: float,
        seconds: float,
        *,
        methods: Iterable[str] | None = None,
        paths: Iterable[str] | None = None,
        limit: int | None = None,
    ) -> None:
        """Answer a `rate` share of matching requests `seconds` late (to trip client timeouts)."""
        fault = InjectedFault(FaultKind.DELAY, seconds=max(0.0, seconds))
        self.fault_plan.add(fault, rate, methods=methods, paths=paths, limit=limit)

    def clear_faults(self) -> None:
        """Stop injecting random faults."""
        self.fault_plan.clear()

    def injected_faults(self) -> dict[str, int]:
        """How many random faults of each kind were injected so far."""
        return self.fault_plan.injected()

    def fault_target(self, request: SimRequest) -> str:
        """The string fault path patterns are searched in (default: the request path)."""
        return request.path

    def error_answer(self, request: SimRequest, status: int) -> SimResponse:
        """The platform's answer for an injected error status."""
        return json_response(status, {"error": _phrase(status)})

    def throttle_answer(self, request: SimRequest, fault: InjectedFault) -> SimResponse:
        """The platform's rate-limit answer, telling the client to wait `fault.retry_after` seconds."""
        wait = str(math.ceil(fault.retry_after))
        return json_response(429, {"error": "Too Many Requests"}, {"retry-after": wait})

    def malformed_answer(self, request: SimRequest, fault: InjectedFault) -> SimResponse:
        """A 200 with a truncated JSON body, or valid JSON of a shape no client expects."""
        if fault.shape == "truncated":
            body = b'{"data": [{"id": "'
        else:
            body = json.dumps({"data": 42, "result": 42, "ok": True}).encode("utf-8")
        return SimResponse(200, body, {"content-type": "application/json; charset=utf-8"})

    def serve(self, request: SimRequest) -> SimResponse | None:
        """Answer one request through the random faults; None means drop the connection unanswered."""
        fault = self.fault_plan.pick(request.method, self.fault_target(request))
        if fault is None:
            return self.handle(request)
        if fault.kind is FaultKind.DELAY:
            self.stopping.wait(fault.seconds)
            return self.handle(request)
        if fault.kind is FaultKind.STATUS:
            return self.error_answer(request, fault.status)
        if fault.kind is FaultKind.THROTTLE:
            return self.throttle_answer(request, fault)
        if fault.kind is FaultKind.MALFORMED:
            return self.malformed_answer(request, fault)
        if fault.after_effect:
            self.handle(request)
        return None

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
                response = owner.serve(request)
            except Exception as exc:  # a simulator bug must surface as a 500, not a hang
                response = json_response(
                    500,
                    {"title": "Internal Error", "detail": repr(exc), "type": "about:blank", "status": 500},
                )
            if response is None:  # an injected drop: close without a word
                self.close_connection = True
                return
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


def _phrase(status: int) -> str:
    """The reason phrase of an HTTP status, or a generic one."""
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return f"Error {status}"
