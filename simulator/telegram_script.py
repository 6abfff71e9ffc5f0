"""Scripted Telegram traffic: group conversations, private chats with the bot, and customers following deep links.

The player behaves like real customers: when the bot answers one of their group messages with
a ``t.me/<bot>?start=<token>`` deep link (a button or a link in the text), that customer opens
it a few seconds later (``/start <token>``) and, if the script gives them words, explains their
problem in the private chat.
"""

from __future__ import annotations

import heapq
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from simulator.script import Played, Timeline, load_packaged_json
from simulator.telegram import SentMessage, TelegramSimulator

WATCH_SECONDS = 0.2
"""How often (wall clock) the player looks at what the bot sent."""


@dataclass(frozen=True, slots=True)
class TelegramUser:
    """A scripted Telegram user; `after_deep_link` is what they write once they opened the bot from a link."""

    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None
    after_deep_link: str | None = None


@dataclass(frozen=True, slots=True)
class TelegramGroup:
    """A group or supergroup the bot administers."""

    key: str
    id: int
    title: str
    type: str = "supergroup"


@dataclass(frozen=True, slots=True)
class TelegramEvent:
    """After `at` seconds, `user` writes `text` in `group` (None: privately to the bot) or, with `start`, opens the bot."""

    at: float
    user: int
    text: str | None = None
    group: str | None = None
    label: str | None = None
    reply_to: str | None = None
    start: bool = False


@dataclass(frozen=True, slots=True)
class TelegramScript:
    """A whole scripted scenario for one bot; deep links are opened `deep_link_delay` s after they arrive."""

    bot_username: str
    bot_name: str
    users: list[TelegramUser] = field(default_factory=list)
    groups: list[TelegramGroup] = field(default_factory=list)
    events: list[TelegramEvent] = field(default_factory=list)
    deep_link_delay: float = 3.0
    follow_up_delay: float = 2.0


def _event(
    index: int, e: dict[str, Any], users: set[int], groups: set[str], labels: dict[str, str | None]
) -> TelegramEvent:
    """Check one event's references (labels seen so far map to their group) and build it."""
    user, group, start = int(e["user"]), e.get("group"), bool(e.get("start", False))
    if user not in users:
        raise ValueError(f"event {index}: unknown user {user}")
    if group is not None and group not in groups:
        raise ValueError(f"event {index}: unknown group {group!r}")
    text, label, reply_to = e.get("text"), e.get("label"), e.get("reply_to")
    if start:
        if group is not None or text is not None or label or reply_to:
            raise ValueError(f"event {index}: a start event takes only 'at' and 'user'")
    elif not isinstance(text, str) or not text.strip():
        raise ValueError(f"event {index}: a message needs a non-empty 'text'")
    if reply_to and (reply_to not in labels or labels[reply_to] != group):
        raise ValueError(f"event {index}: reply_to {reply_to!r} names no earlier message in the same chat")
    if label:
        if label in labels:
            raise ValueError(f"event {index}: label {label!r} is used twice")
        labels[label] = group
    return TelegramEvent(float(e["at"]), user, text, group, label, reply_to, start)


def parse_telegram_script(data: dict[str, Any]) -> TelegramScript:
    """Build a TelegramScript from its JSON form, checking every reference."""
    bot = data["bot"]
    users = [
        TelegramUser(
            int(u["id"]),
            u["first_name"],
            u.get("last_name"),
            u.get("username"),
            u.get("language_code"),
            u.get("after_deep_link"),
        )
        for u in data["users"]
    ]
    groups = [
        TelegramGroup(g["key"], int(g["id"]), g["title"], g.get("type", "supergroup")) for g in data["groups"]
    ]
    user_ids = {u.id for u in users}
    if len(user_ids) != len(users) or any(uid <= 0 for uid in user_ids):
        raise ValueError("user ids must be unique positive integers")
    keys = {g.key for g in groups}
    if len(keys) != len(groups) or any(g.id >= 0 for g in groups):
        raise ValueError("group keys must be unique and group ids negative")
    labels: dict[str, str | None] = {}
    events = [_event(i, e, user_ids, keys, labels) for i, e in enumerate(data["events"])]
    events.sort(key=lambda ev: ev.at)
    reactions = data.get("deep_links", {})
    return TelegramScript(
        bot["username"],
        bot["name"],
        users,
        groups,
        events,
        float(reactions.get("open_after", 3.0)),
        float(reactions.get("write_after", 2.0)),
    )


def load_telegram_script(path: str | Path | None = None) -> TelegramScript:
    """Load a Telegram script file, or the packaged demo script."""
    return parse_telegram_script(load_packaged_json("demo_telegram.json", path))


def prepare_telegram(sim: TelegramSimulator, script: TelegramScript) -> None:
    """Create the script's users and groups."""
    for user in script.users:
        sim.add_user(
            user.id,
            user.first_name,
            user.username,
            last_name=user.last_name,
            language_code=user.language_code,
        )
    for group in script.groups:
        sim.add_group(group.id, group.title, group.type)


def deep_link_token(message: SentMessage, bot_username: str) -> str | None:
    """The ``start`` token of a deep link to our bot in a message's buttons or text, if any."""
    pattern = re.compile(
        rf"https://t\.me/{re.escape(bot_username.lstrip('@'))}\?start=([A-Za-z0-9_-]{{1,64}})"
    )
    urls = [
        str(button.get("url", ""))
        for row in (message.reply_markup or {}).get("inline_keyboard", [])
        for button in row
        if isinstance(button, dict)
    ]
    for candidate in [*urls, message.text]:
        match = pattern.search(candidate)
        if match:
            return match.group(1)
    return None


class TelegramPlayer:
    """Plays a TelegramScript into the simulator and reacts to the bot's deep links."""

    def __init__(
        self,
        sim: TelegramSimulator,
        script: TelegramScript,
        speed: float,
        stop: threading.Event,
        played: Played,
    ) -> None:
        self._sim = sim
        self._script = script
        self._speed = speed
        self._stop = stop
        self.played = played
        self._users = {u.id: u for u in script.users}
        self._groups = {g.key: g.id for g in script.groups}
        self._labels: dict[str, int] = {}
        self._authors: dict[tuple[int, int], int] = {}  # (chat, message id) -> who wrote it
        self._seen: set[tuple[int, int]] = set()
        self._invited: set[int] = set()
        self._reactions: list[tuple[float, int, Callable[[], None]]] = []
        self._order = 0

    def run(self) -> None:
        """Play until `stop` is set: scripted events at their times, deep links as they arrive."""
        timeline = Timeline(self._speed)
        events = list(self._script.events)
        while not self._stop.is_set():
            now = timeline.now()
            while events and events[0].at <= now:
                self._post(events.pop(0))
            self._watch_invitations(now)
            while self._reactions and self._reactions[0][0] <= now:
                heapq.heappop(self._reactions)[2]()
            upcoming = [events[0].at] if events else []
            upcoming += [self._reactions[0][0]] if self._reactions else []
            wait = min([WATCH_SECONDS, *((at - now) / self._speed for at in upcoming)])
            self._stop.wait(max(0.01, wait))

    def _post(self, event: TelegramEvent) -> None:
        if event.start:
            self._sim.user_starts_bot(event.user)
            self.played.posts += 1
            return
        assert event.text is not None  # checked by the parser
        chat = self._groups[event.group] if event.group is not None else event.user
        reply_to = self._labels.get(event.reply_to) if event.reply_to else None
        message_id = self._sim.user_says(chat, event.user, event.text, reply_to)
        self.played.posts += 1
        self._authors[(chat, message_id)] = event.user
        if event.label:
            self._labels[event.label] = message_id

    def _watch_invitations(self, now: float) -> None:
        """Schedule the customer's visit for every new deep link the bot addressed to one of our messages."""
        for chat in self._groups.values():
            for message in self._sim.sent_messages(chat):
                key = (chat, message.message_id)
                if key in self._seen:
                    continue
                self._seen.add(key)
                token = deep_link_token(message, self._script.bot_username)
                author = self._authors.get((chat, message.reply_to_message_id or 0))
                if token is None or author is None or author in self._invited:
                    continue
                self._invited.add(author)
                self._schedule(now + self._script.deep_link_delay, partial(self._open, author, token))
                words = self._users[author].after_deep_link
                if words:
                    at = now + self._script.deep_link_delay + self._script.follow_up_delay
                    self._schedule(at, partial(self._say_privately, author, words))

    def _schedule(self, at: float, action: Callable[[], None]) -> None:
        self._order += 1
        heapq.heappush(self._reactions, (at, self._order, action))

    def _open(self, user: int, token: str) -> None:
        self._sim.user_starts_bot(user, token)
        self.played.posts += 1
        self.played.deep_links_opened += 1

    def _say_privately(self, user: int, text: str) -> None:
        self._sim.user_says(user, user, text)
        self.played.posts += 1
