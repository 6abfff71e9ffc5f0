"""facebook-sdk's `GraphAPI` for any Graph base URL and API version, and the one place Graph failures are mapped.

facebook-sdk 3.1.0 only accepts API versions up to 3.1 and hard-codes
``https://graph.facebook.com/``. `GraphClient` subclasses `facebook.GraphAPI`: it sets a
current version (``v21.0``) itself and gives the SDK a `GraphSession` that sends its calls
to the configured base URL (the simulator in tests and demos, the real API in production).
The session also moves the access token out of query strings and form bodies into an
``Authorization: Bearer`` header, so tokens never appear in URLs, logs or exception
messages. Every SDK call goes through `GraphClient.request`, which maps failures to
`tactful.errors` and remembers the usage headers of the last answer. With `read_retries`, a read
(GET) that fails transiently (5xx, a dropped connection, a timeout, an unreadable answer) is tried
again at once, after a short jittered pause: one poll of a Page makes a request per post, and
without this one failed request in many would throw the whole poll away (writes are never retried
here; the outbox decides about those).
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import facebook
import requests

from listeners.base import RateLimitStatus
from tactful.clock import Clock, SystemClock
from tactful.errors import (
    AuthenticationFailed,
    PermanentPlatformError,
    PlatformError,
    RateLimited,
    RecipientUnreachable,
    TransientPlatformError,
)

DEFAULT_GRAPH_URL = "https://graph.facebook.com"
DEFAULT_API_VERSION = "v21.0"
DEFAULT_RATE_LIMIT_BACKOFF = timedelta(minutes=15)
SDK_GRAPH_URL: str = facebook.FACEBOOK_GRAPH_URL.rstrip("/")

RATE_LIMIT_CODES = frozenset({4, 17, 32, 613, *range(80001, 80010)})
"""App (4), user (17), page (32), custom (613) and Business Use Case (80001-80009) throttles."""
AUTH_CODES = frozenset({102, 104, 190})
TRANSIENT_CODES = frozenset({1, 2})
RECIPIENT_CODES = frozenset({551, 10900, 10903})
"""Person unavailable (551), comment already answered privately (10900) or not answerable (10903)."""
RECIPIENT_SUBCODES = frozenset({2018278, 2018065, 2018108, 2018001, 1545041})
"""Outside the messaging window, not allowed to message this person, no such person."""

_VERSION_RE = re.compile(r"^v\d{1,2}\.\d{1,2}$")
_USAGE_HEADERS = ("x-app-usage", "x-page-usage", "x-business-use-case-usage")


class GraphSession(requests.Session):
    """A requests session that sends the SDK's graph.facebook.com calls to another base URL.

    It applies a default timeout, carries the access token in an Authorization header and
    remembers (per thread) the last response, so errors can be mapped with their status
    and rate-limit headers.
    """

    def __init__(self, graph_url: str, timeout: float) -> None:
        super().__init__()
        parts = urlsplit(graph_url.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"graph_url must be an http(s) URL, got {graph_url!r}")
        self._scheme, self._netloc, self._prefix = parts.scheme, parts.netloc, parts.path
        self.default_timeout = timeout
        self._local = threading.local()

    @property
    def last_response(self) -> requests.Response | None:
        """The response to this thread's latest request (None if it got no answer)."""
        response: requests.Response | None = getattr(self._local, "response", None)
        return response

    def rewrite(self, url: str) -> str:
        """Return `url` with the SDK's hard-coded Graph host replaced by the configured base URL."""
        parts = urlsplit(url)
        if f"{parts.scheme}://{parts.netloc}" != SDK_GRAPH_URL:
            return url
        return urlunsplit(
            (self._scheme, self._netloc, self._prefix + parts.path, parts.query, parts.fragment)
        )

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        """Send to the rewritten URL with the token in a header and the default timeout."""
        self._local.response = None
        target = url.decode() if isinstance(url, bytes) else url
        token: str | None = None
        for name in ("params", "data"):
            values = kwargs.get(name)
            if isinstance(values, dict) and "access_token" in values:
                values = dict(values)
                token = values.pop("access_token") or token
                kwargs[name] = values
        if token:
            kwargs["headers"] = {**(kwargs.get("headers") or {}), "Authorization": f"Bearer {token}"}
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        response = super().request(method, self.rewrite(target), *args, **kwargs)
        self._local.response = response
        return response


class GraphClient(facebook.GraphAPI):
    """facebook-sdk's GraphAPI for a configurable base URL and API version, mapping every failure.

    Use the SDK's methods (`get_object`, `get_connections`, `put_object`, `request`); they
    raise `tactful.errors` types instead of `facebook.GraphAPIError` or requests exceptions.
    """

    def __init__(
        self,
        access_token: str,
        *,
        graph_url: str = DEFAULT_GRAPH_URL,
        api_version: str = DEFAULT_API_VERSION,
        timeout: float = 10.0,
        clock: Clock | None = None,
        read_retries: int = 0,
        pause: Callable[[float], None] = time.sleep,
    ) -> None:
        if not access_token:
            raise ValueError("a Facebook page access token is required")
        if not _VERSION_RE.match(api_version):
            raise ValueError(f"api_version must look like 'v21.0', got {api_version!r}")
        session = GraphSession(graph_url, timeout)
        super().__init__(access_token=access_token, timeout=timeout, session=session)
        self.version = api_version
        self.graph_url = graph_url.rstrip("/")
        self.clock: Clock = clock or SystemClock()
        self._graph_session = session
        self._read_retries = max(0, read_retries)
        self._pause = pause

    def __repr__(self) -> str:
        return f"GraphClient(graph_url={self.graph_url!r}, api_version={self.version!r})"

    def path(self, *parts: str) -> str:
        """Return the versioned Graph path for these node/edge parts (``v21.0/123/comments``)."""
        return "/".join((self.version, *parts))

    def request(
        self,
        path: str,
        args: dict[str, Any] | None = None,
        post_args: dict[str, Any] | None = None,
        files: Any = None,
        method: str | None = None,
    ) -> dict[str, Any]:
        """Call the Graph API through the SDK and return the JSON object, mapping every failure.

        A read that fails transiently is retried up to `read_retries` times (after 0.1 s, 0.2 s, ...,
        with jitter); writes are tried once.
        """
        verb = method or ("POST" if post_args is not None else "GET")
        retries = self._read_retries if verb == "GET" else 0
        for attempt in range(retries + 1):
            try:
                return self._request_once(verb, path, args, post_args, files, method)
            except TransientPlatformError:
                if attempt >= retries:
                    raise
            self._pause(0.1 * (2**attempt) * random.uniform(0.5, 1.0))
        raise AssertionError("unreachable")  # pragma: no cover

    def _request_once(
        self,
        verb: str,
        path: str,
        args: dict[str, Any] | None,
        post_args: dict[str, Any] | None,
        files: Any,
        method: str | None,
    ) -> dict[str, Any]:
        operation = f"{verb} /{path}"
        try:
            result = super().request(path, args=args, post_args=post_args, files=files, method=method)
        except facebook.GraphAPIError as exc:
            raise translate_graph_error(
                exc, operation, self._graph_session.last_response, self.clock
            ) from exc
        except (
            requests.Timeout,
            requests.ConnectionError,
            requests.exceptions.ChunkedEncodingError,
            requests.exceptions.ContentDecodingError,
        ) as exc:
            raise TransientPlatformError(f"Facebook {operation} failed: {type(exc).__name__}: {exc}") from exc
        except (KeyError, ValueError) as exc:  # the SDK could not read the answer (no content type, bad JSON)
            status = _status(self._graph_session.last_response)
            raise TransientPlatformError(
                f"Facebook {operation} returned an unreadable answer (HTTP {status}): {type(exc).__name__}"
            ) from exc
        except requests.RequestException as exc:
            raise PermanentPlatformError(f"Facebook {operation} failed: {type(exc).__name__}: {exc}") from exc
        if not isinstance(result, dict):
            raise TransientPlatformError(f"Facebook {operation} returned JSON that is not an object")
        return result

    def iter_pages(
        self, node: str, edge: str, *, max_pages: int | None = None, **params: Any
    ) -> Iterator[dict[str, Any]]:
        """Yield each page of a list edge, following ``paging.cursors.after`` while ``next`` is set."""
        after: str | None = None
        seen: set[str] = set()
        pages = 0
        while True:
            args = dict(params)
            if after is not None:
                args["after"] = after
            body = self.get_connections(node, edge, **args)
            yield body
            pages += 1
            if max_pages is not None and pages >= max_pages:
                return
            after = _next_cursor(body)
            if after is None:
                return
            if after in seen:
                raise TransientPlatformError(f"Facebook {node}/{edge}: paging cursor {after!r} repeated")
            seen.add(after)

    def rate_limit_status(self) -> RateLimitStatus | None:
        """Usage from the last answer's headers on this thread (percentages of the quota)."""
        return usage_status(self._graph_session.last_response, self.clock)


def translate_graph_error(
    exc: facebook.GraphAPIError,
    operation: str,
    response: requests.Response | None,
    clock: Clock | None = None,
) -> PlatformError:
    """Map a Graph API error (body code/subcode, HTTP status, usage headers) to `tactful.errors`."""
    status = _status(response)
    error = exc.result.get("error") if isinstance(exc.result, dict) else None
    error = error if isinstance(error, dict) else {}
    code = _int(error.get("code"))
    subcode = _int(error.get("error_subcode"))
    detail = str(error.get("message") or exc.message or "")[:300]
    label = (
        "no error code" if code is None else f"code {code}" + (f"/{subcode}" if subcode is not None else "")
    )
    message = f"Facebook {operation} failed: HTTP {status}, {label}: {detail}".rstrip(": ")
    if code in RATE_LIMIT_CODES:
        return RateLimited(message, retry_at(response, clock or SystemClock()))
    if code in AUTH_CODES or status == 401:
        return AuthenticationFailed(message)
    if code in TRANSIENT_CODES or error.get("is_transient") is True or (status is not None and status >= 500):
        return TransientPlatformError(message)
    if code is None and (status is None or status < 400):
        return TransientPlatformError(message)  # a 2xx/3xx the SDK could not read as Graph JSON
    if code in RECIPIENT_CODES or subcode in RECIPIENT_SUBCODES:
        return RecipientUnreachable(message)
    return PermanentPlatformError(message)


def retry_at(response: requests.Response | None, clock: Clock) -> datetime:
    """When a throttled call may be retried: the longest estimated_time_to_regain_access, else 15 min."""
    minutes = max((regain for _, regain in _usage_entries(response)), default=0)
    if minutes > 0:
        return clock.now() + timedelta(minutes=minutes)
    return clock.now() + DEFAULT_RATE_LIMIT_BACKOFF


def usage_status(response: requests.Response | None, clock: Clock) -> RateLimitStatus | None:
    """Read X-App-Usage / X-Page-Usage / X-Business-Use-Case-Usage as percent used; None without them."""
    entries = list(_usage_entries(response))
    if not entries:
        return None
    used = max(percent for percent, _ in entries)
    regain = max(minutes for _, minutes in entries)
    reset_at = clock.now() + timedelta(minutes=regain) if regain > 0 else None
    return RateLimitStatus(limit=100, remaining=max(0, 100 - used), reset_at=reset_at)


def _usage_entries(response: requests.Response | None) -> Iterator[tuple[int, int]]:
    """Yield (percent used, minutes to regain access) for every usage record in the headers."""
    if response is None:
        return
    for header in _USAGE_HEADERS:
        raw = response.headers.get(header)
        if not raw:
            continue
        try:
            decoded = json.loads(raw)
        except ValueError:
            continue
        records: list[Any] = []
        if header == "x-business-use-case-usage" and isinstance(decoded, dict):
            for value in decoded.values():
                records.extend(value if isinstance(value, list) else [])
        else:
            records.append(decoded)
        for record in records:
            if not isinstance(record, dict):
                continue
            percents = [_int(record.get(name)) or 0 for name in ("call_count", "total_cputime", "total_time")]
            yield max(percents), max(0, _int(record.get("estimated_time_to_regain_access")) or 0)


def _next_cursor(body: dict[str, Any]) -> str | None:
    paging = body.get("paging")
    if not isinstance(paging, dict) or not paging.get("next"):
        return None
    cursors = paging.get("cursors")
    after = cursors.get("after") if isinstance(cursors, dict) else None
    return after if isinstance(after, str) and after else None


def _status(response: requests.Response | None) -> int | None:
    return response.status_code if response is not None else None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None
