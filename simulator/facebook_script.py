"""Scripted Facebook traffic: page posts, people commenting on them, and Messenger messages to the page."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from simulator.facebook import FacebookSimulator
from simulator.script import Played, Timeline, load_packaged_json


@dataclass(frozen=True, slots=True)
class FacebookUser:
    """A scripted person (their id is both their comment author id and their Messenger PSID)."""

    id: str
    name: str


@dataclass(frozen=True, slots=True)
class FacebookPost:
    """A post the page published `age_hours` before the demo starts."""

    key: str
    text: str
    age_hours: float = 0.0


@dataclass(frozen=True, slots=True)
class FacebookEvent:
    """After `at` seconds, `user` comments on `post` (optionally replying to a labelled comment) or, with no post, messages the page."""

    at: float
    user: str
    text: str
    post: str | None = None
    label: str | None = None
    reply_to: str | None = None

    @property
    def is_messenger(self) -> bool:
        """Whether this is a Messenger message rather than a comment."""
        return self.post is None


@dataclass(frozen=True, slots=True)
class FacebookScript:
    """A whole scripted scenario for one Facebook page."""

    page_id: str
    page_name: str
    users: list[FacebookUser] = field(default_factory=list)
    posts: list[FacebookPost] = field(default_factory=list)
    events: list[FacebookEvent] = field(default_factory=list)


def _event(
    index: int, e: dict[str, Any], users: set[str], posts: set[str], labels: dict[str, str]
) -> FacebookEvent:
    """Check one event's references (labels seen so far map to their post) and build it."""
    if e["user"] not in users:
        raise ValueError(f"event {index}: unknown user {e['user']}")
    post, messenger = e.get("post"), bool(e.get("messenger", False))
    if (post is None) == (not messenger):
        raise ValueError(f"event {index}: give exactly one of 'post' or 'messenger': true")
    if post is not None and post not in posts:
        raise ValueError(f"event {index}: unknown post {post!r}")
    reply_to, label = e.get("reply_to"), e.get("label")
    if (reply_to or label) and messenger:
        raise ValueError(f"event {index}: Messenger messages take no label or reply_to")
    if reply_to and labels.get(reply_to) != post:
        raise ValueError(f"event {index}: reply_to {reply_to!r} names no earlier comment on post {post!r}")
    if label:
        if label in labels:
            raise ValueError(f"event {index}: label {label!r} is used twice")
        labels[label] = str(post)
    if not str(e["text"]).strip():
        raise ValueError(f"event {index}: empty text")
    return FacebookEvent(float(e["at"]), e["user"], e["text"], post, label, reply_to)


def parse_facebook_script(data: dict[str, Any]) -> FacebookScript:
    """Build a FacebookScript from its JSON form, checking every reference."""
    page = data["page"]
    users = [FacebookUser(str(u["id"]), u["name"]) for u in data["users"]]
    posts = [FacebookPost(p["key"], p["text"], float(p.get("age_hours", 0))) for p in data["posts"]]
    user_ids = {u.id for u in users}
    if len(user_ids) != len(users) or str(page["id"]) in user_ids:
        raise ValueError("user ids must be unique and differ from the page id")
    post_keys = {p.key for p in posts}
    if len(post_keys) != len(posts):
        raise ValueError("post keys must be unique")
    labels: dict[str, str] = {}
    events = [_event(i, e, user_ids, post_keys, labels) for i, e in enumerate(data["events"])]
    events.sort(key=lambda ev: ev.at)
    return FacebookScript(str(page["id"]), page["name"], users, posts, events)


def load_facebook_script(path: str | Path | None = None) -> FacebookScript:
    """Load a Facebook script file, or the packaged demo script."""
    return parse_facebook_script(load_packaged_json("demo_facebook.json", path))


def prepare_facebook(
    sim: FacebookSimulator, script: FacebookScript, now: datetime | None = None
) -> dict[str, str]:
    """Create the script's people and the page's posts (dated from `now`); return post key -> post id."""
    for user in script.users:
        sim.add_user(user.id, user.name)
    now = now or datetime.now(UTC)
    return {p.key: sim.add_post(p.text, created_at=now - timedelta(hours=p.age_hours)) for p in script.posts}


def play_facebook(
    sim: FacebookSimulator,
    script: FacebookScript,
    post_ids: dict[str, str],
    speed: float,
    stop: threading.Event,
    played: Played,
) -> None:
    """Write the script's comments and Messenger messages at their times until done or `stop` is set."""
    comments: dict[str, str] = {}
    timeline = Timeline(speed)
    for event in script.events:
        if not timeline.wait_until(event.at, stop):
            return
        if event.post is None:
            sim.message_page(event.user, event.text)
        else:
            parent = comments.get(event.reply_to) if event.reply_to else None
            comment_id = sim.comment(post_ids[event.post], event.user, event.text, parent_comment_id=parent)
            if event.label:
                comments[event.label] = comment_id
        played.posts += 1
