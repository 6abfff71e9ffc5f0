"""Building a tweepy v2 client for any X API base URL, and the one place X failures are mapped.

tweepy's `Client.request` hard-codes ``https://api.twitter.com``; `make_x_client` swaps in a
`requests.Session` that rewrites that host to the configured base URL (the simulator in
tests and demos, the real API in production) and applies a default timeout. The client
returns raw `requests.Response` objects so callers can read rate-limit headers; tweepy
still authenticates and raises its typed exceptions, which `call_x` maps to
`tactful.errors`. With `read_retries`, the session tries a read (GET) again after a 5xx or a
failed connection (urllib3's `Retry`, jittered backoff from 0.1 s): one poll may page through many
requests, and without this one failed page in many would throw the whole poll away. Writes are
only retried when the connection could not be made (nothing was sent); the outbox decides the rest.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
import tweepy
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from listeners.base import RateLimitStatus
from tactful.clock import Clock, SystemClock
from tactful.errors import (
    AuthenticationFailed,
    PermanentPlatformError,
    PlatformError,
    RateLimited,
    TransientPlatformError,
)

TWEEPY_HOST = "https://api.twitter.com"
DEFAULT_RATE_LIMIT_BACKOFF = timedelta(minutes=15)


class RewritingSession(requests.Session):
    """A requests session that sends tweepy's api.twitter.com calls to another base URL."""

    def __init__(self, api_base_url: str, timeout: float, read_retries: int = 0) -> None:
        super().__init__()
        parts = urlsplit(api_base_url.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"api_base_url must be an http(s) URL, got {api_base_url!r}")
        self._scheme, self._netloc, self._prefix = parts.scheme, parts.netloc, parts.path
        self.default_timeout = timeout
        if read_retries > 0:
            adapter = HTTPAdapter(max_retries=read_retry_policy(read_retries))
            self.mount("http://", adapter)
            self.mount("https://", adapter)

    def rewrite(self, url: str) -> str:
        """Return `url` with tweepy's hard-coded host replaced by the configured base URL."""
        parts = urlsplit(url)
        if f"{parts.scheme}://{parts.netloc}" != TWEEPY_HOST:
            return url
        return urlunsplit(
            (self._scheme, self._netloc, self._prefix + parts.path, parts.query, parts.fragment)
        )

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        """Send the request to the rewritten URL, with the default timeout unless one is given."""
        target = url.decode() if isinstance(url, bytes) else url
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        return super().request(method, self.rewrite(target), *args, **kwargs)


def read_retry_policy(retries: int) -> Retry:
    """Retry GETs after a 5xx, a dropped connection or a read timeout; any method if it never connected."""
    return Retry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        other=0,
        allowed_methods=frozenset({"GET"}),
        status_forcelist=(500, 502, 503, 504),
        backoff_factor=0.1,
        backoff_jitter=0.05,
        raise_on_status=False,  # the last 5xx goes back to tweepy, which raises its typed error
        respect_retry_after_header=True,
    )


def make_x_client(
    api_base_url: str,
    bearer_token: str | None,
    consumer_key: str | None,
    consumer_secret: str | None,
    access_token: str | None,
    access_token_secret: str | None,
    timeout: float = 10.0,
    read_retries: int = 0,
) -> tweepy.Client:
    """Build a tweepy `Client` that talks to `api_base_url` and returns raw responses.

    Reads use the bearer token (app auth); writes use OAuth 1.0a user context. `read_retries`:
    see the module docstring.
    """
    client = tweepy.Client(
        bearer_token=bearer_token,
        consumer_key=consumer_key,
        consumer_secret=consumer_secret,
        access_token=access_token,
        access_token_secret=access_token_secret,
        return_type=requests.Response,
        wait_on_rate_limit=False,
    )
    client.session = RewritingSession(api_base_url, timeout, read_retries)
    return client


def call_x(
    operation: str,
    func: Callable[..., Any],
    /,
    *args: Any,
    clock: Clock | None = None,
    forbidden: type[PlatformError] = PermanentPlatformError,
    **kwargs: Any,
) -> requests.Response:
    """Call a tweepy client method and return its raw response, mapping every failure.

    `forbidden` is the error raised for a 403 (the bot passes `RecipientUnreachable`
    for DM sends).
    """
    try:
        response = func(*args, **kwargs)
    except (tweepy.TweepyException, requests.RequestException) as exc:
        raise translate_error(exc, operation, clock=clock, forbidden=forbidden) from exc
    if not isinstance(response, requests.Response):
        raise TypeError(f"{operation}: the X client must be built with return_type=requests.Response")
    return response


def translate_error(
    exc: BaseException,
    operation: str,
    *,
    clock: Clock | None = None,
    forbidden: type[PlatformError] = PermanentPlatformError,
) -> PlatformError:
    """Map a tweepy or requests exception to the matching `tactful.errors` type."""
    if isinstance(exc, tweepy.HTTPException):
        status = getattr(exc.response, "status_code", 0)
        message = f"X {operation} failed: {status} {_problem_detail(exc.response)}".rstrip()
        if isinstance(exc, tweepy.TooManyRequests):
            return RateLimited(message, _retry_at(exc.response, clock or SystemClock()))
        if isinstance(exc, tweepy.TwitterServerError) or status == 408:
            return TransientPlatformError(message)
        if isinstance(exc, tweepy.Unauthorized):
            return AuthenticationFailed(message)
        if isinstance(exc, tweepy.Forbidden):
            return forbidden(message)
        return PermanentPlatformError(message)
    if isinstance(
        exc,
        requests.Timeout
        | requests.ConnectionError
        | requests.exceptions.ChunkedEncodingError
        | requests.exceptions.ContentDecodingError,
    ):
        return TransientPlatformError(f"X {operation} failed: {type(exc).__name__}: {exc}")
    return PermanentPlatformError(f"X {operation} failed: {type(exc).__name__}: {exc}")


def response_json(response: requests.Response, operation: str) -> dict[str, Any]:
    """Decode a 2xx body as a JSON object; an undecodable body is a transient failure."""
    try:
        body = response.json()
    except (ValueError, requests.JSONDecodeError) as exc:
        raise TransientPlatformError(f"X {operation} returned a body that is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise TransientPlatformError(f"X {operation} returned JSON that is not an object")
    return body


def rate_limit_status(response: requests.Response) -> RateLimitStatus | None:
    """Read x-rate-limit-limit/-remaining/-reset; None when the response has none of them."""
    headers = response.headers
    limit = _int_header(headers.get("x-rate-limit-limit"))
    remaining = _int_header(headers.get("x-rate-limit-remaining"))
    reset = _int_header(headers.get("x-rate-limit-reset"))
    if limit is None and remaining is None and reset is None:
        return None
    reset_at = datetime.fromtimestamp(reset, UTC) if reset is not None else None
    return RateLimitStatus(limit=limit, remaining=remaining, reset_at=reset_at)


def _retry_at(response: Any, clock: Clock) -> datetime:
    """When a throttled call may be retried: x-rate-limit-reset, else Retry-After, else 15 min."""
    headers = getattr(response, "headers", {}) or {}
    reset = _int_header(headers.get("x-rate-limit-reset"))
    if reset is not None:
        return datetime.fromtimestamp(reset, UTC)
    retry_after = _int_header(headers.get("retry-after"))
    if retry_after is not None:
        return clock.now() + timedelta(seconds=retry_after)
    return clock.now() + DEFAULT_RATE_LIMIT_BACKOFF


def _problem_detail(response: Any) -> str:
    """Best-effort one-line summary of an X error body (RFC 7807 problem or v1-style errors)."""
    try:
        body = response.json()
    except (ValueError, AttributeError, json.JSONDecodeError):
        return str(getattr(response, "reason", "") or "")
    if not isinstance(body, dict):
        return ""
    if isinstance(body.get("detail"), str):
        return str(body["detail"])
    errors = body.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        return str(errors[0].get("message") or errors[0].get("detail") or "")
    return str(body.get("title") or "")


def _int_header(value: str | None) -> int | None:
    """Parse an integer header value, ignoring junk."""
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None
