"""Riding out failures that last (the database gone for a while): log a run once, keep what it missed.

`FailureLog` says that a stage started failing once and that it recovered once, however many
retries fail in between (Home Assistant's coordinator pattern): an outage of a minute gives
two lines per component, not a traceback per retry. `PendingWrites` keeps the records of side
effects already done (a message sent, a post made) that the database refused, and writes them
first thing once it is back, so nothing done sits in "sending" until a restart mistakes it for
a crash's. `wait_for_database` holds a starting service until its database answers.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from storage.db import make_engine

log = logging.getLogger(__name__)


def database_error(exc: DBAPIError) -> str:
    """A one-line description of a database failure, without the SQL or its parameters."""
    cause = exc.orig if exc.orig is not None else exc
    lines = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {lines[0][:200]}" if lines else type(cause).__name__


class FailureLog:
    """Logs the start and the end of a run of failures of one component, nothing in between.

    A database failure is logged as one line (the database is unavailable: a traceback would
    say nothing more); anything else with its traceback, since it is likely a bug. A failure of
    another kind during the same run is logged too. Safe to share between threads.
    """

    def __init__(self, logger: logging.Logger, what: str) -> None:
        self._log = logger
        self.what = what
        self.failures = 0
        self._kinds: set[type[BaseException]] = set()
        self._lock = threading.Lock()

    @property
    def failing(self) -> bool:
        """Whether the last attempt failed."""
        return self.failures > 0

    def failed(self, exc: BaseException) -> None:
        """Note a failed attempt; log it if it starts a run of failures or is a new kind of failure."""
        with self._lock:
            self.failures += 1
            new_kind = type(exc) not in self._kinds
            self._kinds.add(type(exc))
        if not new_kind:
            return
        if isinstance(exc, DBAPIError):
            self._log.warning(
                "%s failed: database unavailable: %s (retrying quietly until it is back)",
                self.what,
                database_error(exc),
            )
        else:
            self._log.error("%s failed (retrying quietly until it recovers)", self.what, exc_info=exc)

    def succeeded(self) -> None:
        """Note a successful attempt; log the recovery if failures came before it."""
        with self._lock:
            failures, self.failures = self.failures, 0
            self._kinds.clear()
        if failures:
            self._log.info("%s recovered after %d failed attempts", self.what, failures)


class PendingWrites:
    """Records of done side effects that the database refused, written in order once it is back.

    `write` runs a record in its own transaction; if the database fails, the record is kept and
    the error raised (the caller stops its pass: the database is down). The owner calls
    `replay` first thing on its next pass, which writes the kept records in order and raises at
    the first that fails again. Each record must hold only values (no open exceptions) and
    check for itself that it still applies when that matters.
    """

    def __init__(self, db: Engine, what: str) -> None:
        self._db = db
        self.what = what
        self._kept: list[tuple[str, Callable[[Connection], object]]] = []

    def __len__(self) -> int:
        return len(self._kept)

    def write(self, label: str, record: Callable[[Connection], object]) -> None:
        """Write `record` now, or keep it for `replay` if the database fails (and re-raise)."""
        try:
            with self._db.begin() as conn:
                record(conn)
        except DBAPIError:
            log.warning("%s: %s, but the database cannot record it yet; will retry", self.what, label)
            self._kept.append((label, record))
            raise

    def replay(self) -> int:
        """Write the kept records in order; return how many were written."""
        written = 0
        while self._kept:
            label, record = self._kept[0]
            with self._db.begin() as conn:
                record(conn)
            self._kept.pop(0)
            written += 1
            log.info("%s: recorded that %s while the database was unavailable", self.what, label)
        return written


def wait_for_database(
    url: str,
    stop: threading.Event,
    *,
    first_delay: float = 1.0,
    max_delay: float = 30.0,
) -> bool:
    """Block until the database at `url` answers, backing off (capped) between tries; False if `stop` came first.

    A service started while its database is down (a host booting, a failover) waits for it
    instead of exiting; the wait is logged once when it starts and once when it ends.
    """
    engine = make_engine(url)
    failures = FailureLog(log, "connecting to the database at start-up")
    delay = first_delay
    try:
        while not stop.is_set():
            try:
                with engine.connect() as conn:
                    conn.exec_driver_sql("SELECT 1")
            except DBAPIError as exc:
                failures.failed(exc)
                stop.wait(delay)
                delay = min(delay * 2, max_delay)
                continue
            failures.succeeded()
            return True
        return False
    finally:
        engine.dispose()
