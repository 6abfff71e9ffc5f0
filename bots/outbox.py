"""The outbox dispatcher: the only place side effects happen, at most once per outbox item."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import Enum

from sqlalchemy import Connection, Engine, select

from bots.base import Bot, OutboundAction, SendKind, SendResult
from storage import send_budget
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
from storage.send_budget import IdenticalTexts
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
from tactful.outages import PendingWrites
from tactful.text_identity import text_hash

log = logging.getLogger(__name__)

#: How long sends must go through without a rate limit before a spell of them is over (logged once).
THROTTLE_QUIET = timedelta(minutes=1)

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


class _Take(Enum):
    """What asking to send one item came to."""

    SEND = "send"  # marked sending (with a slot of the cap, unless a hide): send it now
    SKIP = "skip"  # another sender took it, or it was withheld for its text
    FULL = "full"  # the global cap has no free slot: it stays pending (hides still go)


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

    Every send but a hide first takes a slot of the global cap (`sends_per_minute`) in the
    database, in the same transaction that marks it sending, so the cap holds across every
    process sharing the database (storage/send_budget.py). In that transaction, with
    `identical_texts`, a text already sent to as many other conversations on the platform
    within the window is withheld instead: the item fails with the reason and goes to a person.
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
        identical_texts: Callable[[], IdenticalTexts | None] | None = None,
    ) -> None:
        self._db = db
        self._on_auth_failed = on_auth_failed  # (platform, "outbox", error), once per run of refusals
        self._auth_refused: set[str] = set()
        # Outcomes of sends (delivered, rescheduled, failed) the database could not record: written
        # first thing on the next pass, so the items do not sit in "sending" until a restart.
        self._unrecorded = PendingWrites(db, "outbox")
        # Sends that failed but may have been delivered (an X 503 that posted anyway, a
        # timeout): looked for with `find_sent` at the given time before any resend.
        self._unconfirmed: dict[int, tuple[OutboxEntry, datetime]] = {}
        self._bots = dict(bots)
        self._clock = clock
        self._sends_per_minute = sends_per_minute
        self._identical_texts = identical_texts or (lambda: None)
        # The cap was found full until then with at most this limit: other senders can only fill
        # it further, so until then (unless the limit grows) nothing is asked of the database.
        self._full_until: datetime | None = None
        self._full_limit = 0
        self._capped = False  # logged that the cap is full; cleared when sends flow again
        self._max_attempts = max_attempts
        self._observer = observer
        self._rng = rng or random.Random()
        self._paused_until: dict[str, datetime] = {}
        self._failing: set[str] = set()
        # Platforms that answered "slow down" lately: pacing, not failing (a Telegram chat takes
        # one message a second), so it is logged once per spell, ended by a minute without one.
        self._throttled: dict[str, datetime] = {}

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
        """Send every due item that the caps allow; return how many were delivered.

        Once the global cap has no free slot, the pass sends only hides (which it does not
        count); the other items stay pending for a later pass.
        """
        self._record_unrecorded()
        delivered_before = self._verify_unconfirmed()
        cap = self._sends_per_minute()
        identical = self._identical_texts()
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
            if self._take(entry, now, cap, identical) is _Take.SEND:
                delivered += self._dispatch_one(entry, now)
        return delivered_before + delivered

    def _take(self, entry: OutboxEntry, now: datetime, cap: int, identical: IdenticalTexts | None) -> _Take:
        """Mark an item sending: a hide at once, any other send with a slot of the global cap."""
        if entry.kind == SendKind.HIDE:
            with self._db.begin() as conn:
                return _Take.SEND if mark_sending(conn, entry.id, now) else _Take.SKIP
        if self._full_until is not None and now < self._full_until and cap <= self._full_limit:
            return _Take.FULL
        digest = text_hash(entry.text) if entry.text else None
        with self._db.begin() as conn:
            send_budget.lock(conn, now)
            if (
                digest is not None
                and identical is not None
                and self._withheld(conn, entry, digest, now, identical)
            ):
                return _Take.SKIP
            full_until = send_budget.full_until(conn, now, cap)
            if full_until is None:
                if not mark_sending(conn, entry.id, now, text_hash=digest):
                    return _Take.SKIP
                send_budget.take(conn, now, entry.id)
        if full_until is not None:
            self._full_until, self._full_limit = full_until, cap
            if not self._capped:
                self._capped = True
                log.info(
                    "global send cap of %d a minute (every process together) reached; next send at %s",
                    cap,
                    full_until.isoformat(),
                )
            return _Take.FULL
        self._full_until = None
        if self._capped:
            self._capped = False
            log.info("global send cap: sending again")
        return _Take.SEND

    def _withheld(
        self, conn: Connection, entry: OutboxEntry, digest: str, now: datetime, identical: IdenticalTexts
    ) -> bool:
        """With the budget locked: withhold (fail, for a person) a text other conversations already got; True if so."""
        count = send_budget.identical_sends(
            conn,
            outbox_id=entry.id,
            platform=entry.platform,
            digest=digest,
            thread_id=entry.thread_id,
            recipient_external_id=entry.recipient_external_id,
            since=now - identical.window,
        )
        if count < identical.max_sends:
            return False
        status = conn.execute(select(t.outbox.c.status).where(t.outbox.c.id == entry.id)).scalar_one()
        if status != "pending":
            return True  # another sender took it (or settled it) meanwhile: nothing to do here
        reason = send_budget.identical_reason(count, entry.platform, identical.window)
        log.warning("outbox item %s %s", entry.id, reason)
        mark_failed(conn, entry, reason, now)
        audit(
            conn, now, "tactful", "outbox.withheld", "outbox", str(entry.id), error=reason, text_hash=digest
        )
        return True

    def _dispatch_one(self, entry: OutboxEntry, now: datetime) -> int:
        """Send one item already marked sending; return 1 if delivered."""
        bot = self._bots[Platform(entry.platform)]
        try:
            result = bot.send(to_action(entry))
        except RateLimited as exc:
            self._paused_until[entry.platform] = exc.retry_at
            self._note_throttled(entry.platform, exc.retry_at, now)
            at, error = exc.retry_at, str(exc)
            self._settle(entry, now, "rate limited", lambda c: reschedule(c, entry.id, at, error, False))
            return 0
        except AuthenticationFailed as exc:
            self._paused_until[entry.platform] = now + AUTH_PAUSE
            self._note_failure(entry.platform, f"authentication failed: {exc}", level=logging.ERROR)
            if entry.platform not in self._auth_refused and self._on_auth_failed is not None:
                self._on_auth_failed(entry.platform, "outbox", str(exc))
            self._auth_refused.add(entry.platform)
            error = str(exc)
            self._settle(
                entry, now, "refused", lambda c: reschedule(c, entry.id, now + AUTH_PAUSE, error, False)
            )
            return 0
        except TransientPlatformError as exc:
            attempts = entry.attempts + 1
            error = str(exc)
            self._note_failure(entry.platform, error)
            if entry.kind != SendKind.HIDE and (bot.finds_sent or exc.maybe_delivered):
                self._unconfirmed[entry.id] = (replace(entry, attempts=attempts), now + VERIFY_AFTER)
                unconfirmed = f"{error}; looking for it before sending again"
                self._settle(
                    entry, now, "unconfirmed", lambda c: mark_unconfirmed(c, entry.id, now, unconfirmed)
                )
                return 0
            if attempts >= self._max_attempts:
                gave_up = f"gave up after {attempts} attempts: {error}"
                self._settle(entry, now, "given up", lambda c: mark_failed(c, entry, gave_up, now))
            else:
                at = now + backoff_delay(attempts, rng=self._rng)
                self._settle(entry, now, "not delivered", lambda c: reschedule(c, entry.id, at, error))
            return 0
        except (RecipientUnreachable, PermanentPlatformError) as exc:
            error = str(exc)

            def refused(conn: Connection) -> None:
                mark_failed(conn, entry, error, now)
                audit(conn, now, "tactful", "outbox.failed", "outbox", str(entry.id), error=error[:500])

            self._settle(entry, now, "refused for good", refused)
            return 0
        done = self._clock.now()
        self._auth_refused.discard(entry.platform)
        self._unrecorded.write(
            f"item {entry.id} was delivered", lambda c: _record_delivered(c, entry, result, done)
        )
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
                with self._db.begin() as conn:  # forgotten once recorded: a database failure asks again
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
                del self._unconfirmed[entry_id]
                continue
            except PlatformError:
                self._unconfirmed[entry_id] = (entry, now + backoff_delay(1, rng=self._rng))
                continue
            with self._db.begin() as conn:
                if not still_sending(conn, entry_id):
                    found = None  # a recovery settled it meanwhile
                elif found is not None:
                    _record_sent(conn, entry, found, now)
                    delivered += 1
                elif entry.attempts >= self._max_attempts:
                    mark_failed(conn, entry, f"gave up after {entry.attempts} attempts", now)
                else:
                    delay = backoff_delay(entry.attempts, rng=self._rng)
                    reschedule(conn, entry_id, now + delay, "looked for after a failed send: not delivered")
            del self._unconfirmed[entry_id]
            if found is not None and self._observer is not None:
                self._observer(SentEvent(entry=entry, result=found))
        return delivered

    def _record_unrecorded(self) -> None:
        """Record the send outcomes the database missed, in order (raises while it is still down)."""
        self._unrecorded.replay()

    def _settle(
        self, entry: OutboxEntry, marked_at: datetime, what: str, write: Callable[[Connection], object]
    ) -> None:
        """Record an undelivered send's outcome, unless the item moved on since this process marked it.

        If the database is down the record is kept for the next pass; meanwhile a recovery in
        another process may have taken the item, and then its outcome is that process's to record.
        """

        def record(conn: Connection) -> None:
            o = t.outbox
            mine = conn.execute(
                select(o.c.id).where(
                    o.c.id == entry.id, o.c.status == "sending", o.c.next_attempt_at == marked_at
                )
            ).first()
            if mine is not None:
                write(conn)

        self._unrecorded.write(f"item {entry.id} was {what}", record)

    def _note_failure(self, platform: str, what: str, level: int = logging.WARNING) -> None:
        if platform not in self._failing:
            self._failing.add(platform)
            log.log(level, "sending on %s is failing: %s", platform, what)

    def _note_throttled(self, platform: str, until: datetime, now: datetime) -> None:
        if platform not in self._throttled:
            log.info("sending on %s is paced by its rate limit (until %s)", platform, until.isoformat())
        self._throttled[platform] = now

    def _note_recovery(self, platform: str) -> None:
        limited_at = self._throttled.get(platform)
        if limited_at is not None and self._clock.now() - limited_at >= THROTTLE_QUIET:
            del self._throttled[platform]
            log.info("sending on %s is no longer rate limited", platform)
        if platform in self._failing:
            self._failing.discard(platform)
            log.info("sending on %s recovered", platform)


def _record_delivered(conn: Connection, entry: OutboxEntry, result: SendResult, done: datetime) -> None:
    """Record a delivery unless the item is no longer sending (a recovery may have settled it)."""
    status = conn.execute(select(t.outbox.c.status).where(t.outbox.c.id == entry.id)).scalar_one()
    if status == "sending":
        _record_sent(conn, entry, result, done)


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
