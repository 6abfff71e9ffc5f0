"""The outbox dispatcher: the only place side effects happen, at most once per outbox item."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, select
from sqlalchemy.exc import DBAPIError

from bots.base import Bot, OutboundAction, SendKind, SendResult
from bots.ratelimit import SendRateCap
from storage import tables as t
from storage.outbox import (
    OutboxEntry,
    audit,
    claim_interrupted,
    due_entries,
    interrupted_entries,
    mark_failed,
    mark_sending,
    mark_sent,
    mark_unconfirmed,
    reschedule,
    still_sending,
)
from tactful.clock import Clock
from tactful.domain import Platform
from tactful.errors import (
    AuthenticationFailed,
    DeliveryUnknown,
    PermanentPlatformError,
    PlatformError,
    RateLimited,
    RecipientUnreachable,
    TransientPlatformError,
)

log = logging.getLogger(__name__)

AUTH_PAUSE = timedelta(minutes=5)
#: A send that failed without a clear answer is looked for on the platform this long after.
VERIFY_AFTER = timedelta(seconds=5)


@dataclass(frozen=True, slots=True)
class SentEvent:
    """A delivery the dispatcher completed (for live output)."""

    entry: OutboxEntry
    result: SendResult


def backoff_delay(
    attempt: int, base: float = 2.0, cap: float = 600.0, rng: random.Random | None = None
) -> timedelta:
    """Capped exponential backoff with full jitter for the given (1-based) attempt."""
    ceiling = min(cap, base * (2 ** max(0, attempt - 1)))
    jitter = (rng or random).uniform(0.5, 1.0)
    return timedelta(seconds=ceiling * jitter)


def to_action(entry: OutboxEntry) -> OutboundAction:
    """Turn a stored outbox row into the action a bot performs."""
    return OutboundAction(
        idempotency_key=entry.idempotency_key,
        kind=SendKind(entry.kind),
        platform=Platform(entry.platform),
        thread_external_id=entry.thread_external_id,
        target_external_id=entry.target_external_id,
        recipient_external_id=entry.recipient_external_id,
        text=entry.text,
        fallback_text=entry.fallback_text,
        private_link=entry.private_link,
        source_created_at=entry.source_created_at,
    )


class OutboxDispatcher:
    """Sends due outbox items through the platform bots.

    Each item is marked "sending" in its own committed transaction before the call and
    "sent" with the platform's id after, so a crash leaves at most the in-flight items in
    "sending"; `recover()` asks the bot whether those were delivered before trying again.
    """

    def __init__(
        self,
        db: Engine,
        bots: Mapping[Platform, Bot],
        clock: Clock,
        sends_per_minute: Callable[[], int],
        max_attempts: int = 6,
        observer: Callable[[SentEvent], None] | None = None,
        rng: random.Random | None = None,
        on_auth_failed: Callable[[str, str, str], None] | None = None,
    ) -> None:
        self._db = db
        self._on_auth_failed = on_auth_failed  # (platform, "outbox", error), once per run of refusals
        self._auth_refused: set[str] = set()
        # Deliveries the platform confirmed while the database could not record them: written
        # first thing on the next pass, so the items do not sit in "sending" until a restart.
        self._unrecorded: list[tuple[OutboxEntry, SendResult, datetime]] = []
        # Sends that failed but may have been delivered (an X 503 that posted anyway, a
        # timeout): looked for with `find_sent` at the given time before any resend.
        self._unconfirmed: dict[int, tuple[OutboxEntry, datetime]] = {}
        self._bots = dict(bots)
        self._clock = clock
        self._sends_per_minute = sends_per_minute
        self._cap = SendRateCap(sends_per_minute())
        self._max_attempts = max_attempts
        self._observer = observer
        self._rng = rng or random.Random()
        self._paused_until: dict[str, datetime] = {}
        self._failing: set[str] = set()

    def recover(self, stale_after: timedelta | None = None) -> int:
        """Resolve items a crash left in "sending"; return how many were found already delivered.

        With `stale_after`, only items marked sending at least that long ago: when other
        processes share the database, a younger one may be a send in flight elsewhere. Each item
        is taken with a conditional update first, so two processes never recover the same one.
        """
        marked_before = None if stale_after is None else self._clock.now() - stale_after
        with self._db.begin() as conn:
            stuck = [
                e
                for e in interrupted_entries(conn, marked_before=marked_before)
                if Platform(e.platform) in self._bots
            ]
        delivered = 0
        for entry in stuck:
            bot = self._bots[Platform(entry.platform)]
            now = self._clock.now()
            with self._db.begin() as conn:
                if not claim_interrupted(conn, entry.id, marked_before, now):
                    continue
            try:
                found = bot.find_sent(to_action(entry))
            except DeliveryUnknown as exc:
                log.warning("outbox item %s may have been delivered before the restart: %s", entry.id, exc)
                with self._db.begin() as conn:
                    mark_failed(
                        conn,
                        entry,
                        f"interrupted mid-send and {exc}; check the conversation before answering",
                        now,
                    )
                    audit(
                        conn, now, "tactful", "outbox.unknown", "outbox", str(entry.id), error=str(exc)[:500]
                    )
                continue
            except PlatformError as exc:
                log.warning("cannot check outbox item %s after restart yet: %s", entry.id, exc)
                with self._db.begin() as conn:
                    reschedule(
                        conn, entry.id, now + backoff_delay(1, rng=self._rng), f"recovery: {exc}", False
                    )
                continue
            with self._db.begin() as conn:
                if found is not None:
                    mark_sent(conn, entry.id, found.platform_ref, found.kind_used.value, now)
                    audit(
                        conn,
                        now,
                        "tactful",
                        "outbox.recovered",
                        "outbox",
                        str(entry.id),
                        ref=found.platform_ref,
                    )
                    delivered += 1
                else:
                    reschedule(conn, entry.id, now, "interrupted before delivery", count_attempt=False)
        return delivered

    def dispatch_due(self, limit: int = 100) -> int:
        """Send every due item that the caps allow; return how many were delivered."""
        self._record_unrecorded()
        delivered_before = self._verify_unconfirmed()
        self._refresh_cap()
        now = self._clock.now()
        paused = {p for p, until in self._paused_until.items() if until > now}
        paused |= {p.value for p in Platform if p not in self._bots}
        with self._db.begin() as conn:
            entries = due_entries(conn, now, limit, paused)
        delivered = 0
        for entry in entries:
            now = self._clock.now()
            if entry.platform in self._paused_until and self._paused_until[entry.platform] > now:
                continue
            if entry.kind != SendKind.HIDE and not self._cap.allows(now):
                log.info("global send cap reached; next send at %s", self._cap.next_slot(now).isoformat())
                break
            delivered += self._dispatch_one(entry)
        return delivered_before + delivered

    def _refresh_cap(self) -> None:
        limit = self._sends_per_minute()
        if limit != self._cap.limit:
            self._cap.limit = limit

    def _dispatch_one(self, entry: OutboxEntry) -> int:
        bot = self._bots[Platform(entry.platform)]
        now = self._clock.now()
        with self._db.begin() as conn:
            if not mark_sending(conn, entry.id, now):
                return 0
        try:
            result = bot.send(to_action(entry))
        except RateLimited as exc:
            self._paused_until[entry.platform] = exc.retry_at
            self._note_failure(entry.platform, f"rate limited until {exc.retry_at.isoformat()}")
            with self._db.begin() as conn:
                reschedule(conn, entry.id, exc.retry_at, str(exc), count_attempt=False)
            return 0
        except AuthenticationFailed as exc:
            self._paused_until[entry.platform] = now + AUTH_PAUSE
            self._note_failure(entry.platform, f"authentication failed: {exc}", level=logging.ERROR)
            if entry.platform not in self._auth_refused and self._on_auth_failed is not None:
                self._on_auth_failed(entry.platform, "outbox", str(exc))
            self._auth_refused.add(entry.platform)
            with self._db.begin() as conn:
                reschedule(conn, entry.id, now + AUTH_PAUSE, str(exc), count_attempt=False)
            return 0
        except TransientPlatformError as exc:
            attempts = entry.attempts + 1
            if entry.kind != SendKind.HIDE and (bot.finds_sent or exc.maybe_delivered):
                with self._db.begin() as conn:
                    mark_unconfirmed(conn, entry.id, now, f"{exc}; looking for it before sending again")
                self._unconfirmed[entry.id] = (replace(entry, attempts=attempts), now + VERIFY_AFTER)
                self._note_failure(entry.platform, str(exc))
                return 0
            with self._db.begin() as conn:
                if attempts >= self._max_attempts:
                    mark_failed(conn, entry, f"gave up after {attempts} attempts: {exc}", now)
                else:
                    reschedule(conn, entry.id, now + backoff_delay(attempts, rng=self._rng), str(exc))
            self._note_failure(entry.platform, str(exc))
            return 0
        except (RecipientUnreachable, PermanentPlatformError) as exc:
            with self._db.begin() as conn:
                mark_failed(conn, entry, str(exc), now)
                audit(conn, now, "tactful", "outbox.failed", "outbox", str(entry.id), error=str(exc)[:500])
            return 0
        done = self._clock.now()
        if entry.kind != SendKind.HIDE:
            self._cap.record(done)
        self._auth_refused.discard(entry.platform)
        try:
            with self._db.begin() as conn:
                _record_sent(conn, entry, result, done)
        except DBAPIError:
            log.warning(
                "outbox item %s was delivered but the database cannot record it yet; will retry", entry.id
            )
            self._unrecorded.append((entry, result, done))
            raise
        self._note_recovery(entry.platform)
        if self._observer is not None:
            self._observer(SentEvent(entry=entry, result=result))
        return 1

    def _verify_unconfirmed(self) -> int:
        """Look for the sends that failed without a clear answer; return how many were delivered after all."""
        delivered = 0
        now = self._clock.now()
        for entry_id, (entry, verify_at) in list(self._unconfirmed.items()):
            if verify_at > now:
                continue
            bot = self._bots[Platform(entry.platform)]
            try:
                found = bot.find_sent(to_action(entry))
            except DeliveryUnknown as exc:
                del self._unconfirmed[entry_id]
                with self._db.begin() as conn:
                    if still_sending(conn, entry_id):
                        mark_failed(
                            conn,
                            entry,
                            f"a send failed without an answer and {exc}; check the conversation",
                            now,
                        )
                        audit(
                            conn,
                            now,
                            "tactful",
                            "outbox.unknown",
                            "outbox",
                            str(entry_id),
                            error=str(exc)[:500],
                        )
                continue
            except PlatformError:
                self._unconfirmed[entry_id] = (entry, now + backoff_delay(1, rng=self._rng))
                continue
            del self._unconfirmed[entry_id]
            with self._db.begin() as conn:
                if not still_sending(conn, entry_id):
                    continue  # a recovery settled it meanwhile
                if found is not None:
                    _record_sent(conn, entry, found, now)
                    delivered += 1
                elif entry.attempts >= self._max_attempts:
                    mark_failed(conn, entry, f"gave up after {entry.attempts} attempts", now)
                else:
                    delay = backoff_delay(entry.attempts, rng=self._rng)
                    reschedule(conn, entry_id, now + delay, "looked for after a failed send: not delivered")
            if found is not None and self._observer is not None:
                self._observer(SentEvent(entry=entry, result=found))
        return delivered

    def _record_unrecorded(self) -> None:
        """Record deliveries the database missed (still "sending": recovery may have settled them)."""
        while self._unrecorded:
            entry, result, done = self._unrecorded[0]
            with self._db.begin() as conn:
                status = conn.execute(select(t.outbox.c.status).where(t.outbox.c.id == entry.id)).scalar_one()
                if status == "sending":
                    _record_sent(conn, entry, result, done)
            self._unrecorded.pop(0)
            log.info("recorded outbox item %s, delivered while the database was unavailable", entry.id)

    def _note_failure(self, platform: str, what: str, level: int = logging.WARNING) -> None:
        if platform not in self._failing:
            self._failing.add(platform)
            log.log(level, "sending on %s is failing: %s", platform, what)

    def _note_recovery(self, platform: str) -> None:
        if platform in self._failing:
            self._failing.discard(platform)
            log.info("sending on %s recovered", platform)


def _record_sent(conn: Connection, entry: OutboxEntry, result: SendResult, done: datetime) -> None:
    """Mark an item sent with the platform's reference and audit the delivery."""
    mark_sent(conn, entry.id, result.platform_ref, result.kind_used.value, done)
    audit(
        conn,
        done,
        "tactful",
        f"outbox.{result.kind_used.value}",
        "outbox",
        str(entry.id),
        ref=result.platform_ref,
        rule=entry.rule_id,
        policy_version=entry.policy_version,
    )
