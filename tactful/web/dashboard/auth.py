"""Who is asking and what they may do: the viewer, role checks, safe redirects and login rate limiting."""

from __future__ import annotations

import math
import threading
from collections import OrderedDict, deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from storage.users import UserRecord
from tactful.clock import Clock
from tactful.roles import Role

DEFAULT_NEXT = "/queue"
MAX_TRACKED = 10_000  # keys the limiter remembers at most (the oldest are dropped first)


class LoginRequired(Exception):
    """No valid session: the browser is sent to the login page (an API-style request gets 401)."""

    def __init__(self, next_path: str, api: bool = False) -> None:
        super().__init__(next_path)
        self.next_path = next_path
        self.api = api


class Forbidden(Exception):
    """The viewer's role does not allow this page or action."""


class CsrfRejected(Exception):
    """A POST without the right CSRF token."""


@dataclass(frozen=True, slots=True)
class Viewer:
    """The logged-in person behind a request, with their session's cookie token and CSRF token."""

    user: UserRecord
    token: str
    csrf: str

    @property
    def name(self) -> str:
        """The user's name (the actor in the audit log)."""
        return self.user.name

    @property
    def role(self) -> Role:
        """The user's role, as stored now."""
        return self.user.role

    def can(self, role: Role) -> bool:
        """Whether the viewer has at least `role`."""
        return self.user.role.at_least(role)

    @property
    def overrides_claims(self) -> bool:
        """Managers and admins may act on items someone else has claimed."""
        return self.can(Role.MANAGER)


def require_role(viewer: Viewer, role: Role) -> Viewer:
    """Return the viewer if their role is at least `role`, else raise Forbidden."""
    if not viewer.can(role):
        raise Forbidden(f"this page is for {role.value}s")
    return viewer


def safe_next(value: str | None) -> str:
    """Return `value` if it is a local path on this site, else the queue (no open redirects)."""
    if not value or len(value) > 2000 or not value.startswith("/") or value.startswith("//"):
        return DEFAULT_NEXT
    if "\\" in value or any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in value):
        return DEFAULT_NEXT
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or parts.path.startswith("/login"):
        return DEFAULT_NEXT
    return value


class LoginLimiter:
    """Counts failed logins per user name and per client address over a sliding window.

    After `max_failures` failures within `window` for either key, logins for that key are
    refused until the oldest failure leaves the window; a success clears the name's failures.
    In memory: one web server process serves the dashboard. Time comes from the injected clock.
    """

    def __init__(
        self, clock: Clock, max_failures: int = 5, window: timedelta = timedelta(minutes=15)
    ) -> None:
        self._clock = clock
        self._max = max_failures
        self._window = window
        self._failures: OrderedDict[str, deque[datetime]] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, name: str, client: str) -> int | None:
        """Seconds until a login for this name and client may be tried, or None if it may be now."""
        now = self._clock.now()
        waits = []
        with self._lock:
            for key in self._keys(name, client):
                failures = self._recent(key, now)
                if failures is not None and len(failures) >= self._max:
                    waits.append((failures[-self._max] + self._window - now).total_seconds())
        return max(1, math.ceil(max(waits))) if waits else None

    def failed(self, name: str, client: str) -> None:
        """Record a failed login."""
        now = self._clock.now()
        with self._lock:
            for key in self._keys(name, client):
                failures = self._recent(key, now)
                if failures is None:
                    failures = self._failures[key] = deque(maxlen=self._max)
                failures.append(now)
                self._failures.move_to_end(key)
            while len(self._failures) > MAX_TRACKED:
                self._failures.popitem(last=False)

    def succeeded(self, name: str) -> None:
        """Forget a name's failures after a successful login."""
        with self._lock:
            self._failures.pop(self._keys(name, "")[0], None)

    def _recent(self, key: str, now: datetime) -> deque[datetime] | None:
        failures = self._failures.get(key)
        if failures is None:
            return None
        while failures and failures[0] <= now - self._window:
            failures.popleft()
        if not failures:
            del self._failures[key]
            return None
        return failures

    @staticmethod
    def _keys(name: str, client: str) -> tuple[str, str]:
        return f"name:{name.strip().lower()[:128]}", f"client:{client}"
