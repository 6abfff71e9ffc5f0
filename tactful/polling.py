"""The polling coordinator: one place owns a listener's interval, backoff, rate limits and failure logs."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from listeners.base import FetchResult, Listener, RateLimitStatus
from storage.ingest import IngestStats, load_cursor, store_fetch
from tactful.clock import Clock
from tactful.errors import AuthenticationFailed, PlatformError, RateLimited
from tactful.leasing import LeaseKeeper
from tactful.outages import database_error

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(minutes=15)
#: While the database is down, polls retry at least this often (or every interval, if longer): a
#: failing poll costs the platform nothing (the lease and cursor are read first), and polling
#: resumes soon after the database is back, however long it was gone.
DATABASE_MAX_BACKOFF = timedelta(seconds=30)
AUTH_RETRY = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class PollOutcome:
    """What one poll did and when the next one should run."""

    stats: IngestStats | None
    next_delay: timedelta
    error: str | None = None
    standby: bool = False  # another process holds the listener's lease; nothing was fetched


def delay_for_quota(base: timedelta, status: RateLimitStatus | None, clock: Clock) -> timedelta:
    """Spread the remaining quota over the time to its reset, never polling faster than `base`."""
    if status is None or status.remaining is None or status.reset_at is None:
        return base
    until_reset = status.reset_at - clock.now()
    if until_reset <= timedelta(0):
        return base
    if status.remaining <= 1:
        return until_reset + timedelta(seconds=1)
    return max(base, until_reset / status.remaining)


class PollCoordinator:
    """Polls one listener, stores what it returns with its cursor, and decides when to poll again.

    Logs a failure once when a run of failures starts and once when it recovers, however
    many polls fail in between (Home Assistant's coordinator pattern). With a `lease`, it polls
    only while this process holds the listener's lease, renewed before each fetch and checked
    again before storing (a fetch that outlived the lease is dropped: the new holder fetches it
    again from the stored cursor); otherwise it stands by and tries again shortly.
    """

    def __init__(
        self,
        listener: Listener,
        db: Engine,
        clock: Clock,
        interval: timedelta,
        observer: Callable[[Listener, FetchResult, IngestStats], None] | None = None,
        rng: random.Random | None = None,
        lease: LeaseKeeper | None = None,
        on_auth_failed: Callable[[str, str, str], None] | None = None,
    ) -> None:
        self.listener = listener
        self._on_auth_failed = on_auth_failed  # (platform, listener key, error), once per run of refusals
        self._auth_refused = False
        self.lease = lease
        self._db = db
        self._clock = clock
        self.interval = interval
        self._observer = observer
        self._rng = rng or random.Random()
        self.failures = 0

    def poll_once(self) -> PollOutcome:
        """Fetch, store, and return when to poll next; never raises platform or database errors.

        While the database is unreachable, polls back off like failed fetches, up to
        `DATABASE_MAX_BACKOFF` or the interval; nothing fetched is lost, because the cursor only
        moves in the transaction that stores what it covers.
        """
        try:
            return self._poll()
        except DBAPIError as exc:
            cap = max(DATABASE_MAX_BACKOFF, self.interval)
            return self._failed(f"database unavailable: {database_error(exc)}", self._backoff(cap))

    def _poll(self) -> PollOutcome:
        key = self.listener.key
        if self.lease is not None and not self.lease.hold():
            return PollOutcome(stats=None, next_delay=self.lease.standby_delay(self.interval), standby=True)
        cursor = load_cursor(self._db, key)
        try:
            result = self.listener.fetch(cursor)
        except RateLimited as exc:
            wait = max(exc.retry_at - self._clock.now(), timedelta(seconds=1)) + timedelta(seconds=1)
            return self._failed(f"rate limited until {exc.retry_at.isoformat()}", wait)
        except AuthenticationFailed as exc:
            if not self._auth_refused and self._on_auth_failed is not None:
                self._on_auth_failed(self.listener.platform.value, key, str(exc))
            self._auth_refused = True
            return self._failed(f"authentication failed: {exc}", AUTH_RETRY, level=logging.ERROR)
        except PlatformError as exc:
            return self._failed(str(exc), self._backoff())
        if self.lease is not None and not self.lease.hold():
            return PollOutcome(stats=None, next_delay=self.lease.standby_delay(self.interval), standby=True)
        stats = store_fetch(
            self._db,
            key,
            result.messages,
            result.cursor,
            result.quarantined,
            self._clock.now(),
            presses=result.presses,
        )
        self._auth_refused = False
        if self.failures:
            log.info("%s recovered after %d failed polls", key, self.failures)
            self.failures = 0
        if stats.quarantined:
            log.warning("%s: %d payloads quarantined", key, stats.quarantined)
        if self._observer is not None:
            self._observer(self.listener, result, stats)
        return PollOutcome(
            stats=stats, next_delay=delay_for_quota(self.interval, result.rate_limit, self._clock)
        )

    def _backoff(self, cap: timedelta = MAX_BACKOFF) -> timedelta:
        ceiling = min(cap, self.interval * (2 ** min(self.failures, 10)))
        return ceiling * self._rng.uniform(0.5, 1.0)

    def _failed(self, what: str, delay: timedelta, level: int = logging.WARNING) -> PollOutcome:
        if self.failures == 0:
            log.log(level, "%s: polling failed: %s (will keep retrying quietly)", self.listener.key, what)
        self.failures += 1
        return PollOutcome(stats=None, next_delay=delay, error=what)
