"""Telling the team when a channel's credentials are refused: the channel pauses, the rest runs on.

A listener or the outbox that gets `AuthenticationFailed` pauses only its own platform (polling
tries again every few minutes, sends wait) and calls `ChannelAlerts.auth_failed` once per run of
refusals. That writes ``channel.auth_failed`` to the audit log and, when the service has a team
chat, queues one team-chat alert per platform and UTC day. The alert rides the team chat's alert
table (`storage.badge_alerts`, keyed ``channel-auth:<platform>``), so it is posted at most once,
like the Messenger badge alerts. A database that is down at that moment costs the alert, never
the service.
"""

from __future__ import annotations

import html
import logging

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from storage.badge_alerts import queue_alert
from storage.outbox import audit
from tactful.clock import Clock

log = logging.getLogger(__name__)

ALERT_LEVEL = "paused"
_NAMES = {"x": "X", "facebook": "Facebook", "telegram": "Telegram"}


def alert_key(platform: str) -> str:
    """The team-chat alert key of a platform's credential failures."""
    return f"channel-auth:{platform}"


def alert_text(platform: str, where: str, error: str) -> str:
    """The team-chat alert (HTML; every name and error escaped)."""
    name = html.escape(_NAMES.get(platform, platform))
    return (
        f"⚠️ <b>{name}: credentials refused</b> ({html.escape(where)}).\n"
        f"This channel is paused and tried again every few minutes; the other channels keep running.\n"
        f"Check its token or app permissions. Error: <code>{html.escape(error[:300])}</code>"
    )


class ChannelAlerts:
    """Records and announces credential failures of one service's channels."""

    def __init__(self, db: Engine, clock: Clock, team_chat_id: str | None = None) -> None:
        self._db = db
        self._clock = clock
        self._chat_id = team_chat_id or None

    def auth_failed(self, platform: str, where: str, error: str) -> None:
        """Audit a refused credential and queue the day's team-chat alert for `platform`."""
        now = self._clock.now()
        log.error(
            "%s: credentials refused (%s); this channel is paused, the others keep running", platform, where
        )
        try:
            with self._db.begin() as conn:
                audit(
                    conn,
                    now,
                    "tactful",
                    "channel.auth_failed",
                    "channel",
                    platform,
                    where=where,
                    error=error[:500],
                )
                if self._chat_id is not None:
                    text = alert_text(platform, where, error)
                    queue_alert(
                        conn,
                        self._chat_id,
                        alert_key(platform),
                        ALERT_LEVEL,
                        now.date().isoformat(),
                        text,
                        now,
                    )
        except SQLAlchemyError as exc:
            log.warning("cannot record the %s credential failure: %s", platform, type(exc).__name__)
