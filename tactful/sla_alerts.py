"""What an SLA reminder or escalation says in the team chat (Telegram HTML; customer text escaped).

A reminder: "Due in 10 min" for a review item (or "Promise due in 10 min" for a promise no item
carries), with who wrote what and the due time in UTC; an escalation: "Overdue by 5 min". Each
links to the dashboard item when there is one. Sending happens in `bots/sla_alerts.py`.
"""

from __future__ import annotations

import html
from datetime import datetime

from storage.sla_alerts import ESCALATION, AlertRow, PromiseCard
from storage.team_chat import ItemCard
from tactful.team_chat import (
    CardButton,
    PostContent,
    author_label,
    item_url,
    telegram_accepts_url,
    text_preview,
)


def minutes_between(earlier: datetime, later: datetime) -> str:
    """A short duration: ``5 min``, ``2 h 10 min``, ``3 d 4 h``."""
    total = max(0, int((later - earlier).total_seconds() // 60))
    days, rest = divmod(total, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min"


def _headline(alert: AlertRow, now: datetime, what: str) -> str:
    if alert.kind == ESCALATION:
        return f"🚨 <b>{what} overdue by {minutes_between(alert.deadline, now)}</b>"
    return f"⏰ <b>{what} due in {minutes_between(now, alert.deadline)}</b>"


def _when(deadline: datetime) -> str:
    return deadline.strftime("%Y-%m-%d %H:%M") + " UTC"


def render_item_alert(
    alert: AlertRow, card: ItemCard, now: datetime, dashboard_url: str | None
) -> PostContent:
    """The reminder or escalation for a review item's due time."""
    esc = html.escape
    owner = (
        f"claimed by {card.assignee}" if card.status == "claimed" and card.assignee else "nobody has it yet"
    )
    lines = [
        _headline(alert, now, f"Review item #{card.item_id}"),
        f"{esc(card.platform)} · {esc(card.category or 'unclassified')} · priority {card.priority} · {esc(owner)}",
        f"<b>{esc(author_label(card))}</b> wrote: <i>{esc(text_preview(card.text))}</i>",
        f"Due: {_when(alert.deadline)}",
    ]
    return _content(lines, item_url(dashboard_url, card.item_id) if dashboard_url else None, alert)


def render_promise_alert(alert: AlertRow, card: PromiseCard, now: datetime) -> PostContent:
    """The reminder or escalation for a promise that no waiting review item carries."""
    esc = html.escape
    name = card.author_display_name or (f"@{card.author_username}" if card.author_username else "someone")
    lines = [
        _headline(alert, now, "A promised reply"),
        f"We told <b>{esc(text_preview(name))}</b> on {esc(card.platform)} ({esc(card.channel)}) that a person "
        f"would answer by {_when(card.promised_at)}, and nobody has yet.",
        f"They wrote: <i>{esc(text_preview(card.text))}</i>",
    ]
    return _content(lines, None, alert)


def _content(lines: list[str], link: str | None, alert: AlertRow) -> PostContent:
    rows: list[list[CardButton]] = []
    if link is not None and telegram_accepts_url(link):
        rows.append([CardButton("Open in dashboard", url=link)])
    elif link is not None:
        lines.append(f"Dashboard: {html.escape(link)}")
    return PostContent(text="\n".join(lines), buttons=rows, state=alert.kind, status=alert.kind)
