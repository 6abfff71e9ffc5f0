"""Scripted traffic for the simulators: who posts what, when, in which thread."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from simulator.x import XSimulator


@dataclass(frozen=True, slots=True)
class ScriptUser:
    """A scripted customer."""

    id: str
    username: str
    name: str
    accepts_dms: bool = True


@dataclass(frozen=True, slots=True)
class ScriptEvent:
    """One post: after `at` seconds, `user` writes `text` (optionally replying to a labelled post)."""

    at: float
    user: str
    text: str
    lang: str | None = None
    label: str | None = None
    reply_to: str | None = None


@dataclass(frozen=True, slots=True)
class TrafficScript:
    """A whole scripted scenario for one brand."""

    brand_user_id: str
    brand_username: str
    brand_name: str
    users: list[ScriptUser] = field(default_factory=list)
    events: list[ScriptEvent] = field(default_factory=list)


def parse_script(data: dict[str, Any]) -> TrafficScript:
    """Build a TrafficScript from its JSON form, checking references."""
    brand = data["brand"]
    users = [
        ScriptUser(u["id"], u["username"], u["name"], bool(u.get("accepts_dms", True))) for u in data["users"]
    ]
    known = {u.id for u in users}
    events: list[ScriptEvent] = []
    labels: set[str] = set()
    for index, e in enumerate(data["events"]):
        if e["user"] not in known:
            raise ValueError(f"event {index}: unknown user {e['user']}")
        if e.get("reply_to") and e["reply_to"] not in labels:
            raise ValueError(f"event {index}: reply_to {e['reply_to']!r} names no earlier label")
        if e.get("label"):
            labels.add(e["label"])
        events.append(
            ScriptEvent(
                float(e["at"]), e["user"], e["text"], e.get("lang"), e.get("label"), e.get("reply_to")
            )
        )
    events.sort(key=lambda ev: ev.at)
    return TrafficScript(brand["user_id"], brand["username"], brand["name"], users, events)


def load_packaged_json(name: str, path: str | Path | None = None) -> Any:
    """Read a script file, or the packaged `simulator/scripts/<name>` when `path` is None."""
    if path is None:
        text = resources.files("simulator").joinpath(f"scripts/{name}").read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    return json.loads(text)


def load_script(path: str | Path | None = None) -> TrafficScript:
    """Load a script file, or the packaged demo script."""
    return parse_script(load_packaged_json("demo_x.json", path))


class Timeline:
    """Script time (seconds since the start, scaled by `speed`) against the wall clock."""

    def __init__(self, speed: float) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self._start = time.monotonic()

    def now(self) -> float:
        """Return how many script seconds have passed."""
        return (time.monotonic() - self._start) * self.speed

    def wait_until(self, at: float, stop: threading.Event) -> bool:
        """Wait until script second `at`; False when `stop` was set first."""
        delay = (at - self.now()) / self.speed
        if delay > 0:
            return not stop.wait(delay)
        return not stop.is_set()


@dataclass(slots=True)
class Played:
    """What a player posted (written by the player's thread, read once it stopped)."""

    posts: int = 0
    deep_links_opened: int = 0


def play_x(
    sim: XSimulator, script: TrafficScript, speed: float, stop: threading.Event, played: Played
) -> None:
    """Post the script's tweets into the X simulator at their times until done or `stop` is set."""
    labels: dict[str, str] = {}
    timeline = Timeline(speed)
    for event in script.events:
        if not timeline.wait_until(event.at, stop):
            return
        reply_to = labels.get(event.reply_to) if event.reply_to else None
        tweet_id = sim.post(event.user, event.text, in_reply_to=reply_to, lang=event.lang)
        played.posts += 1
        if event.label:
            labels[event.label] = tweet_id
