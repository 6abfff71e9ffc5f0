"""The Telegram team chat's decisions: which items to announce, what the post says, what a button press does.

Everything here is a value or a database step; the Telegram calls (posting, answering a press,
editing a post) happen in `bots/team_chat.py`. A post carries inline buttons whose callback data
is ``tc:<action>:<item id>`` (Claim, Troll, Resolve) and a link to the item in the dashboard.
A press is applied through `storage.queue_actions`, exactly as the dashboard applies it, by the
tactful user linked to the presser's Telegram account (`tactful user link-telegram`); anyone
else is refused, changes nothing, and leaves a ``team_chat.refused`` audit row.
"""

from __future__ import annotations

import hashlib
import html
import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from urllib.parse import urlsplit

from sqlalchemy import Engine

from storage.outbox import audit
from storage.queue_actions import QueueActionError, claim_item, label_item, resolve_item
from storage.team_chat import (
    DONE,
    IGNORED,
    UNKNOWN,
    AnnounceRule,
    ItemCard,
    PostRow,
    PressRow,
    adopt_message_ref,
    finish_press,
    mark_press_handling,
    pending_presses,
    post_for_item,
)
from storage.users import UserRecord, user_by_telegram_id
from tactful.clock import Clock
from tactful.roles import Role
from tactful.settings import Settings

TEXT_PREVIEW = 200
NAME_MAX = 64
REASON_MAX = 400
ANSWER_MAX = 200  # Telegram shows at most 200 characters of a press's answer
NOT_LINKED = "refused: your Telegram account is not linked to a tactful user"
DISABLED = "refused: your tactful account is disabled"
APPLIED = "applied"
REFUSED = "refused"
_DATA_RE = re.compile(r"tc:(?P<action>claim|troll|resolve):(?P<item>[1-9][0-9]{0,17})")
_SPACES = re.compile(r"\s+")


class ButtonAction(StrEnum):
    """What a team-chat button does to its review item."""

    CLAIM = "claim"
    TROLL = "troll"
    RESOLVE = "resolve"


@dataclass(frozen=True, slots=True)
class ButtonCommand:
    """A validated press: the action and the review item it names."""

    action: ButtonAction
    item_id: int


@dataclass(frozen=True, slots=True)
class CardButton:
    """One inline button of a post: a callback (`data`) or a link (`url`)."""

    text: str
    data: str | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class PostContent:
    """A rendered post: HTML text (user content escaped), button rows, and the state it shows."""

    text: str
    buttons: list[list[CardButton]]
    state: str  # a digest of what the text shows, to know when the message needs editing
    status: str


@dataclass(frozen=True, slots=True)
class PressOutcome:
    """What a press did: the press's final status, the outcome, the answer to show, who did it."""

    status: str
    outcome: str | None
    answer: str | None
    item_id: int | None = None
    actor: str | None = None


def announce_rule(settings: Settings) -> AnnounceRule:
    """The announcement rule from `[team_chat]`."""
    tc = settings.team_chat
    return AnnounceRule(
        min_priority=tc.min_priority,
        max_age=timedelta(hours=tc.max_age_hours),
        due_within=timedelta(minutes=tc.due_within_minutes),
    )


def button_data(action: ButtonAction, item_id: int) -> str:
    """The callback data of a button: ``tc:<action>:<item id>`` (well under Telegram's 64 bytes)."""
    data = f"tc:{action.value}:{item_id}"
    if _DATA_RE.fullmatch(data) is None:
        raise ValueError(f"not a review item id: {item_id!r}")
    return data


def parse_button_data(data: str | None) -> ButtonCommand | None:
    """Validate a press's callback data strictly; None for anything that is not one of our buttons."""
    if data is None or len(data.encode("utf-8")) > 64:
        return None
    match = _DATA_RE.fullmatch(data)
    if match is None:
        return None
    return ButtonCommand(ButtonAction(match["action"]), int(match["item"]))


def telegram_accepts_url(url: str) -> bool:
    """Whether Telegram takes `url` on a URL button: http(s) to a public-looking host (not localhost).

    Telegram refuses button URLs whose host has no dot (``localhost``); loopback addresses are no
    use to anyone reading the chat on a phone either. Such links go into the text instead.
    """
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or "." not in host:
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host != "localhost" and not host.endswith(".localhost")


def item_url(dashboard_url: str, item_id: int) -> str:
    """The dashboard page of a review item."""
    return f"{dashboard_url.rstrip('/')}/queue/{item_id}"


def card_state(card: ItemCard) -> str:
    """A digest of everything the post shows that can change: status, owner, troll label, priority, due time."""
    parts = (
        card.status,
        card.assignee or "",
        card.resolved_by or "",
        card.troll_label or "",
        card.troll_actor or "",
        str(card.priority),
        card.due_at.isoformat() if card.due_at else "",
        card.reason,
    )
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:32]


def render_card(card: ItemCard, dashboard_url: str | None) -> PostContent:
    """The team-chat post for a review item (Telegram HTML: every customer-written string is escaped)."""
    esc = html.escape
    category = card.category or "unclassified"
    lines = [
        f"<b>Priority {card.priority}</b> · {esc(card.platform)} · {esc(category)} · heat {card.heat:.2f}",
        f"<b>{esc(author_label(card))}</b> wrote:",
        f"<i>{esc(text_preview(card.text))}</i>",
        f"Why: {esc(_clip(card.reason, REASON_MAX))}",
    ]
    if card.due_at is not None:
        lines.append(f"Due: {card.due_at.strftime('%Y-%m-%d %H:%M')} UTC")
    lines.append(f"Status: {esc(_status_line(card))}")
    if card.troll_label is not None:
        verdict = "a troll" if card.troll_label == "offensive" else "not a troll"
        lines.append(f"Marked {verdict} by {esc(card.troll_actor or 'someone')}")
    lines.append(f"Review item #{card.item_id}")
    link = item_url(dashboard_url, card.item_id) if dashboard_url else None
    if link is not None and not telegram_accepts_url(link):
        lines.append(f"Dashboard: {esc(link)}")
    actions: list[CardButton] = []
    if card.status == "open":
        actions.append(CardButton("Claim", data=button_data(ButtonAction.CLAIM, card.item_id)))
    if card.status != "resolved":
        if card.troll_label != "offensive":
            actions.append(CardButton("Troll", data=button_data(ButtonAction.TROLL, card.item_id)))
        actions.append(CardButton("Resolve", data=button_data(ButtonAction.RESOLVE, card.item_id)))
    rows = [actions] if actions else []
    if link is not None and telegram_accepts_url(link):
        rows.append([CardButton("Open in dashboard", url=link)])
    return PostContent(text="\n".join(lines), buttons=rows, state=card_state(card), status=card.status)


def author_label(card: ItemCard) -> str:
    """How a post names the item's author: display name and @handle, clipped."""
    name = _clip(card.author_display_name or "", NAME_MAX)
    handle = _clip(card.author_username or "", NAME_MAX)
    if name and handle:
        return f"{name} (@{handle})"
    return name or (f"@{handle}" if handle else "someone")


def text_preview(text: str) -> str:
    """A customer text on one line, clipped for a post."""
    return _clip(_SPACES.sub(" ", text).strip(), TEXT_PREVIEW) or "(no text)"


def _clip(text: str, limit: int) -> str:
    clean = "".join(ch for ch in text if ch.isprintable() or ch == " ")
    return clean if len(clean) <= limit else clean[: limit - 1].rstrip() + "…"


def _status_line(card: ItemCard) -> str:
    if card.status == "claimed":
        return f"claimed by {card.assignee}"
    if card.status == "resolved":
        return f"resolved by {card.resolved_by}" if card.resolved_by else "resolved"
    if card.status == "open":
        return "open, nobody has it yet"
    return card.status


# --- presses ---------------------------------------------------------------------------------


def handle_presses(db: Engine, chat_id: str, clock: Clock, limit: int = 50) -> list[PressOutcome]:
    """Apply every pending press once: take it (committed), act, record the outcome and the answer to give."""
    with db.connect() as conn:
        presses = pending_presses(conn, limit)
    outcomes = []
    for press in presses:
        with db.begin() as conn:
            if not mark_press_handling(conn, press.callback_query_id):
                continue  # another process has it
        now = clock.now()
        outcome = apply_press(db, press, chat_id, now)
        with db.begin() as conn:
            finish_press(
                conn,
                press.callback_query_id,
                status=outcome.status,
                outcome=outcome.outcome,
                answer=outcome.answer,
                item_id=outcome.item_id,
                actor=outcome.actor,
                now=now,
            )
        outcomes.append(outcome)
    return outcomes


def apply_press(db: Engine, press: PressRow, chat_id: str, now: datetime) -> PressOutcome:
    """Decide and apply one press: ignored outside the team chat, refused for unknown people and buttons."""
    if press.chat_id != chat_id:
        return PressOutcome(IGNORED, None, None)
    command = parse_button_data(press.data)
    with db.connect() as conn:
        user = user_by_telegram_id(conn, press.telegram_user_id)
        post = post_for_item(conn, command.item_id, chat_id) if command is not None else None
    if user is None or user.disabled:
        return _refuse_stranger(db, press, command, user, now)
    if command is None:
        return _refused("refused: this is not a button tactful knows", None, user.name)
    if post is None or not _is_post_of(post, press):
        return _refused(
            f"refused: this message is not review item #{command.item_id}'s post", command.item_id, user.name
        )
    if post.message_ref is None and press.message_ref is not None:
        with db.begin() as conn:  # a crash hid where the post went; the press tells us
            adopt_message_ref(conn, post.id, press.message_ref, now)
    try:
        answer = _apply(db, command, user, now)
    except (QueueActionError, ValueError) as exc:
        return _refused(f"refused: {exc}", command.item_id, user.name)
    return PressOutcome(DONE, APPLIED, _clip(answer, ANSWER_MAX), command.item_id, user.name)


def _is_post_of(post: PostRow, press: PressRow) -> bool:
    """Whether the pressed message is the item's post (or may be: a crash left where it went unknown)."""
    if post.message_ref is not None:
        return post.message_ref == press.message_ref
    return post.status == UNKNOWN and press.message_ref is not None


def _apply(db: Engine, command: ButtonCommand, user: UserRecord, now: datetime) -> str:
    """Run the queue action as the dashboard does for this user's role; return the answer."""
    respect_claim = not user.role.at_least(Role.MANAGER)
    if command.action is ButtonAction.CLAIM:
        claim_item(db, command.item_id, user.name, now)
        return f"claimed by {user.name}"
    if command.action is ButtonAction.TROLL:
        label_item(db, command.item_id, ["troll"], user.name, now)
        return f"marked troll by {user.name}"
    resolve_item(db, command.item_id, user.name, now, respect_claim=respect_claim)
    return f"resolved by {user.name}"


def _refused(answer: str, item_id: int | None, actor: str | None) -> PressOutcome:
    return PressOutcome(DONE, REFUSED, _clip(answer, ANSWER_MAX), item_id, actor)


def _refuse_stranger(
    db: Engine, press: PressRow, command: ButtonCommand | None, user: UserRecord | None, now: datetime
) -> PressOutcome:
    """Refuse a press from a Telegram account no enabled user is linked to; only an audit row is written."""
    answer = NOT_LINKED if user is None else DISABLED
    actor = f"telegram:{press.telegram_user_id}"
    with db.begin() as conn:
        audit(
            conn,
            now,
            actor,
            "team_chat.refused",
            "review_item" if command is not None else "team_chat",
            str(command.item_id) if command is not None else str(press.chat_id),
            telegram_user_id=press.telegram_user_id,
            linked_user=user.name if user is not None else None,
            button=command.action.value if command is not None else None,
            callback_query_id=press.callback_query_id,
            reason=answer.removeprefix("refused: "),
        )
    return PressOutcome(DONE, REFUSED, answer, command.item_id if command else None, None)
