"""The team-chat stage that `tactful run` schedules: presses, answers, post updates, announcements, posts.

One pass, in this order: apply the button presses that arrived (`tactful.team_chat`), answer them,
edit the posts whose items changed (by a press or in the dashboard), queue announcements for
newly urgent items, then post them (`bots.team_chat`). Built only when Telegram is enabled and
`[telegram] team_chat_id` is set.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import Engine

from bots.base import Bot
from bots.team_chat import TeamChatDispatcher, TeamChatSender
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


class TeamChatStage:
    """Runs the team chat for one chat id."""

    def __init__(
        self, db: Engine, clock: Clock, chat_id: str, rule: AnnounceRule, dispatcher: TeamChatDispatcher
    ) -> None:
        self.db = db
        self.clock = clock
        self.chat_id = chat_id
        self.rule = rule
        self.dispatcher = dispatcher

    def recover(self) -> tuple[int, int]:
        """Settle posts and presses a crash left in flight (never redone); return (posts, presses)."""
        return self.dispatcher.recover()

    def run_once(self) -> TeamChatPass:
        """One pass of the stage."""
        presses = handle_presses(self.db, self.chat_id, self.clock)
        answered = self.dispatcher.answer_presses()
        edited = self.dispatcher.sync_messages()
        with self.db.begin() as conn:
            announced = queue_announcements(conn, self.chat_id, self.rule, self.clock.now())
        posted = self.dispatcher.deliver_due()
        return TeamChatPass(len(presses), answered, edited, announced, posted)


def build_team_chat(
    settings: Settings, db: Engine, clock: Clock, bots: Mapping[Platform, Bot]
) -> TeamChatStage | None:
    """Build the stage when Telegram is enabled with a `team_chat_id`; None otherwise."""
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
    return TeamChatStage(db, clock, chat_id, announce_rule(settings), dispatcher)
