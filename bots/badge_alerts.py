"""Badge alerts in the Telegram team chat: when the Messenger badge is at risk or lost, say so once a day.

Every `check_every` the badge of each Page is evaluated (`tactful.stats.badge_statuses`); a Page at
risk or lost gets one alert per level and UTC day in the team chat (`storage.badge_alerts`), with
the figures and what it takes to keep or recover the badge. Posting follows the team chat's
discipline: marked ``sending`` before the call, ``posted`` after, a crash in between never posts
again. The same table carries other team-chat alerts (a channel whose credentials were refused,
`tactful.channel_alerts`): `deliver` posts whatever is queued, also with the badge check off.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy import Engine

from bots.team_chat import TeamChatSender
from storage.badge_alerts import (
    mark_interrupted,
    mark_posted,
    mark_retry,
    mark_sending,
    pending_alerts,
    queue_alert,
)
from storage.response_metrics import catch_up
from tactful.badges import AT_RISK, LOST, BadgeStatus, alert_text
from tactful.clock import Clock
from tactful.errors import PlatformError, RateLimited, TransientPlatformError
from tactful.outages import PendingWrites
from tactful.stats import badge_statuses

log = logging.getLogger(__name__)


class BadgeAlerts:
    """Checks the Messenger badge now and then and posts at-risk and lost alerts to one chat."""

    def __init__(
        self,
        db: Engine,
        sender: TeamChatSender,
        clock: Clock,
        chat_id: str,
        *,
        check_every: timedelta = timedelta(minutes=5),
        counts_automated: bool = False,
        dashboard_url: str | None = None,
        max_attempts: int = 6,
        check_badges: bool = True,
    ) -> None:
        self._db = db
        self._check_badges = check_badges
        self._sender = sender
        self._clock = clock
        self._chat_id = chat_id
        self._check_every = check_every
        self._counts_automated = counts_automated
        self._dashboard_url = dashboard_url
        self._max_attempts = max_attempts
        self._next_check: datetime | None = None
        self._paused_until: datetime | None = None
        # What became of alerts already posted or tried while the database was down (written next pass).
        self._unrecorded = PendingWrites(db, "team chat")

    def recover(self) -> int:
        """Settle alerts a crash left mid-post (never posted again); return how many."""
        with self._db.begin() as conn:
            return mark_interrupted(conn)

    def run_once(self) -> int:
        """Check the badges when due (unless the check is off), then post queued alerts; return how many were posted."""
        now = self._clock.now()
        if self._check_badges and (self._next_check is None or now >= self._next_check):
            self._next_check = now + self._check_every
            self.check(now)
        return self.deliver()

    def check(self, now: datetime) -> list[BadgeStatus]:
        """Evaluate every Page's badge and queue the alerts due; return the statuses that need one."""
        catch_up(self._db)
        with self._db.connect() as conn:
            statuses = badge_statuses(conn, now, counts_automated=self._counts_automated)
        found = [s for s in statuses if s.level in (AT_RISK, LOST)]
        with self._db.begin() as conn:
            for status in found:
                text = alert_text(status, self._dashboard_url)
                day = now.date().isoformat()
                if queue_alert(conn, self._chat_id, status.key, status.level, day, text, now):
                    log.warning("Messenger badge %s for %s: alert queued", status.level, status.account)
        return found

    def deliver(self) -> int:
        """Post the queued alerts (until Telegram says wait)."""
        self._unrecorded.replay()
        now = self._clock.now()
        if self._paused_until is not None and self._paused_until > now:
            return 0
        with self._db.connect() as conn:
            alerts = pending_alerts(conn)
        posted = 0
        for alert in alerts:
            with self._db.begin() as conn:
                if not mark_sending(conn, alert.id):
                    continue
            alert_id, label = alert.id, f"badge alert {alert.id} was"
            try:
                ref = self._sender.post_message(int(alert.chat_id), alert.text, [], html=True)
            except RateLimited as exc:
                self._paused_until = exc.retry_at
                error = str(exc)
                self._unrecorded.write(
                    f"{label} not posted", partial(mark_retry, alert_id=alert_id, error=error, give_up=False)
                )
                break
            except TransientPlatformError as exc:
                error, give_up = str(exc), alert.attempts + 1 >= self._max_attempts
                self._unrecorded.write(
                    f"{label} not posted",
                    partial(mark_retry, alert_id=alert_id, error=error, give_up=give_up),
                )
                break
            except PlatformError as exc:
                log.error("team chat: cannot post a badge alert: %s", exc)
                error = str(exc)
                self._unrecorded.write(
                    f"{label} given up", partial(mark_retry, alert_id=alert_id, error=error, give_up=True)
                )
                continue
            posted_at = self._clock.now()
            self._unrecorded.write(
                f"{label} posted", partial(mark_posted, alert_id=alert_id, ref=ref, now=posted_at)
            )
            posted += 1
        return posted
