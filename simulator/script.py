"""Scripted traffic for the simulators: who posts what, when, in which thread."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any


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


def load_script(path: str | Path | None = None) -> TrafficScript:
    """Load a script file, or the packaged demo script."""
    if path is None:
        text = resources.files("simulator").joinpath("scripts/demo_x.json").read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    return parse_script(json.loads(text))
