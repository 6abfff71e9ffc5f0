"""The team-chat stage that `tactful run` schedules: presses, answers, post updates, announcements, posts.

One pass, in this order: apply the button presses that arrived (`tactful.team_chat`), answer them,
edit the posts whose items changed (by a press or in the dashboard), queue announcements for
newly urgent items, then post them (`bots.team_chat`); then queue and post SLA reminders and
escalations (`storage.sla_alerts`, `bots.sla_alerts`), `sla.remind_before_minutes` of the policy
in force ahead of each due or promised time and once it has passed; and, every
`[stats] badge_check_minutes`, check the Messenger badge and post an alert when it is at risk or
lost (`bots.badge_alerts`). Built only when Telegram is enabled and `[telegram] team_chat_id` is set.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Engine

from bots.badge_alerts import BadgeAlerts
from bots.base import Bot
from bots.sla_alerts import SlaAlertSender
from bots.team_chat import TeamChatDispatcher, TeamChatSender
from storage.sla_alerts import queue_sla_alerts
from storage.team_chat import AnnounceRule, queue_announcements
from tactful.clock import Clock
from tactful.domain import Platform
from tactful.errors import ConfigurationError
from tactful.settings import Settings
from tactful.team_chat import announce_rule, handle_presses


@dataclass(frozen=True, slots=True)
class TeamChatPass:
    """What one pass did."""

    presses: int
    answered: int
    edited: int
    announced: int
    posted: int
    alerts_queued: int = 0
    alerts_posted: int = 0
    badge_alerts: int = 0


class TeamChatStage:
    """Runs the team chat for one chat id."""

    def __init__(
        self,
        db: Engine,
        clock: Clock,
        chat_id: str,
        rule: AnnounceRule,
        dispatcher: TeamChatDispatcher,
        alerts: SlaAlertSender | None = None,
        remind_before: Callable[[], timedelta] = lambda: timedelta(minutes=10),
        badges: BadgeAlerts | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.chat_id = chat_id
        self.rule = rule
        self.dispatcher = dispatcher
        self.alerts = alerts
        self.remind_before = remind_before
        self.badges = badges

    def recover(self) -> tuple[int, int]:
        """Settle posts, presses and SLA alerts a crash left in flight (never redone); return (posts, presses)."""
        if self.alerts is not None:
            self.alerts.recover()
        if self.badges is not None:
            self.badges.recover()
        return self.dispatcher.recover()

    def run_once(self) -> TeamChatPass:
        """One pass of the stage."""
        presses = handle_presses(self.db, self.chat_id, self.clock)
        answered = self.dispatcher.answer_presses()
        edited = self.dispatcher.sync_messages()
        with self.db.begin() as conn:
            announced = queue_announcements(conn, self.chat_id, self.rule, self.clock.now())
        posted = self.dispatcher.deliver_due()
        badge_alerts = self.badges.run_once() if self.badges is not None else 0
        if self.alerts is None:
            return TeamChatPass(len(presses), answered, edited, announced, posted, badge_alerts=badge_alerts)
        with self.db.begin() as conn:
            queued = queue_sla_alerts(
                conn, self.chat_id, self.clock.now(), self.remind_before(), self.rule.max_age
            )
        alerted = self.alerts.deliver_due()
        return TeamChatPass(len(presses), answered, edited, announced, posted, queued, alerted, badge_alerts)


def build_team_chat(
    settings: Settings,
    db: Engine,
    clock: Clock,
    bots: Mapping[Platform, Bot],
    remind_before: Callable[[], timedelta] | None = None,
) -> TeamChatStage | None:
    """Build the stage when Telegram is enabled with a `team_chat_id`; None otherwise.

    `remind_before` gives the policy's reminder lead time (default 10 minutes).
    """
    telegram = settings.telegram
    if not telegram.enabled or not telegram.team_chat_id:
        return None
    sender = bots.get(Platform.TELEGRAM)
    if not isinstance(sender, TeamChatSender):
        raise ConfigurationError(
            "[telegram] team_chat_id is set but the Telegram bot cannot post to a team chat"
        )
    chat_id = str(int(telegram.team_chat_id))
    dashboard_url = settings.web.dashboard_url() if settings.web.dashboard else None
    dispatcher = TeamChatDispatcher(
        db, sender, clock, dashboard_url, max_attempts=settings.processing.max_send_attempts
    )
    alerts = SlaAlertSender(
        db, sender, clock, dashboard_url, max_attempts=settings.processing.max_send_attempts
    )
    # Built also with the badge check off: it posts the other queued alerts (refused credentials).
    badges = BadgeAlerts(
        db,
        sender,
        clock,
        chat_id,
        check_every=timedelta(minutes=settings.stats.badge_check_minutes),
        counts_automated=settings.stats.badge_counts_automated,
        dashboard_url=dashboard_url,
        max_attempts=settings.processing.max_send_attempts,
        check_badges=settings.stats.badge_alerts,
    )
    return TeamChatStage(
        db,
        clock,
        chat_id,
        announce_rule(settings),
        dispatcher,
        alerts,
        remind_before or (lambda: timedelta(minutes=10)),
        badges=badges,
    )
