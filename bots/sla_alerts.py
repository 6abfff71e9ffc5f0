"""Posts SLA reminders and escalations to the team chat, once each, from `storage.sla_alerts` rows.

Like the team chat's announcements: an alert is marked ``sending`` in a committed transaction
before the call and ``posted`` after; a rate limit pauses until Telegram's retry time, a
transient failure retries with backoff up to the attempt limit, anything else fails the alert.
An alert whose item was answered or resolved (or whose promise was settled) meanwhile is
``skipped``. Its text comes from `tactful.sla_alerts`.
"""

from __future__ import annotations

import logging
import random
from datetime import datetime
from typing import Literal

from sqlalchemy import Engine

from bots.outbox import AUTH_PAUSE, backoff_delay
from bots.team_chat import TeamChatSender, keyboard
from storage.sla_alerts import (
    FAILED,
    ITEM,
    POSTED,
    SENDING,
    SKIPPED,
    AlertRow,
    due_alerts,
    mark_alert,
    mark_alert_sending,
    mark_interrupted_alerts,
    promise_card,
    still_needed,
)
from storage.team_chat import PENDING, item_cards
from tactful.clock import Clock
from tactful.errors import AuthenticationFailed, PlatformError, RateLimited, TransientPlatformError
from tactful.outages import PendingWrites
from tactful.sla_alerts import render_item_alert, render_promise_alert
from tactful.team_chat import PostContent

log = logging.getLogger(__name__)


class SlaAlertSender:
    """Delivers due SLA alerts through the team chat's bot."""

    def __init__(
        self,
        db: Engine,
        sender: TeamChatSender,
        clock: Clock,
        dashboard_url: str | None,
        *,
        max_attempts: int = 6,
        rng: random.Random | None = None,
    ) -> None:
        self._db = db
        self._sender = sender
        self._clock = clock
        self._dashboard_url = dashboard_url
        self._max_attempts = max_attempts
        self._rng = rng or random.Random()
        self._paused_until: datetime | None = None
        # What became of alerts already posted or tried while the database was down (written next pass).
        self._unrecorded = PendingWrites(db, "team chat")

    def recover(self) -> int:
        """Turn alerts a crash left mid-send into ``unknown`` (never sent again); return how many."""
        with self._db.begin() as conn:
            return mark_interrupted_alerts(conn)

    def deliver_due(self, limit: int = 20) -> int:
        """Post every due alert (until Telegram says wait); return how many were posted."""
        self._unrecorded.replay()
        now = self._clock.now()
        if self._paused_until is not None and self._paused_until > now:
            return 0
        with self._db.connect() as conn:
            alerts = due_alerts(conn, now, limit)
        posted = 0
        for alert in alerts:
            outcome = self._deliver(alert)
            if outcome == "stop":
                break
            posted += outcome == "posted"
        return posted

    def render(self, alert: AlertRow, now: datetime) -> PostContent | None:
        """What the alert says now, or None when its subject no longer needs a person."""
        with self._db.connect() as conn:
            if not still_needed(conn, alert):
                return None
            if alert.subject == ITEM:
                card = item_cards(conn, [alert.subject_id]).get(alert.subject_id)
                return render_item_alert(alert, card, now, self._dashboard_url) if card else None
            promise = promise_card(conn, alert.subject_id)
            return render_promise_alert(alert, promise, now) if promise else None

    def _deliver(self, alert: AlertRow) -> Literal["posted", "skipped", "failed", "stop"]:
        now = self._clock.now()
        content = self.render(alert, now)
        if content is None:
            with self._db.begin() as conn:
                mark_alert(conn, alert.id, PENDING, status=SKIPPED)
            return "skipped"
        with self._db.begin() as conn:
            if not mark_alert_sending(conn, alert.id, now):
                return "failed"
        try:
            ref = self._sender.post_message(
                int(alert.chat_id), content.text, keyboard(content.buttons), html=True
            )
        except RateLimited as exc:
            self._paused_until = exc.retry_at
            self._back_to_pending(alert, exc.retry_at, str(exc))
            return "stop"
        except AuthenticationFailed as exc:
            self._paused_until = now + AUTH_PAUSE
            self._back_to_pending(alert, now + AUTH_PAUSE, str(exc))
            return "stop"
        except TransientPlatformError as exc:
            if alert.attempts + 1 >= self._max_attempts:
                self._fail(alert, f"gave up after {alert.attempts + 1} attempts: {exc}")
            else:
                self._back_to_pending(alert, now + backoff_delay(alert.attempts + 1, rng=self._rng), str(exc))
            return "stop"
        except PlatformError as exc:
            self._fail(alert, str(exc))
            return "failed"
        posted_at = self._clock.now()
        self._unrecorded.write(
            f"SLA alert {alert.id} was posted",
            lambda c: mark_alert(
                c, alert.id, SENDING, status=POSTED, message_ref=ref[:64], posted_at=posted_at
            ),
        )
        return "posted"

    def _back_to_pending(self, alert: AlertRow, at: datetime, error: str) -> None:
        self._unrecorded.write(
            f"SLA alert {alert.id} was not posted",
            lambda c: mark_alert(
                c, alert.id, SENDING, status=PENDING, next_attempt_at=at, last_error=error[:2000]
            ),
        )

    def _fail(self, alert: AlertRow, error: str) -> None:
        log.warning("team chat: SLA alert %d failed: %s", alert.id, error)
        self._unrecorded.write(
            f"SLA alert {alert.id} was given up",
            lambda c: mark_alert(c, alert.id, SENDING, status=FAILED, last_error=error[:2000]),
        )
