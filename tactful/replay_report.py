"""The report of a policy replay: counts before and after, and the messages whose outcome changes.

`ReplayTally` compares each message's stored decision with the replayed one and builds a
JSON-ready report; `format_report` prints it as a table. A message "changes" when the set of
action kinds differs (acknowledge, move_to_private, hide, queue, ignore); a new text variant or
queue priority alone is not a change. Every list keeps its first `shown` messages and the total.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from storage.replays import StoredRow

#: Action kinds as the policy file names them, from the action classes stored in `decisions.actions`.
ACTION_NAMES = {
    "Acknowledge": "acknowledge",
    "MoveToPrivate": "move_to_private",
    "Hide": "hide",
    "QueueForReview": "queue",
    "Ignore": "ignore",
}
LISTS = ("changed", "acks_started", "acks_stopped", "trolls_newly_hidden")
LIST_TITLES = {
    "changed": "Messages whose actions change",
    "acks_started": "Acknowledgements that would now go out",
    "acks_stopped": "Acknowledgements that would no longer go out",
    "trolls_newly_hidden": "Trolls newly hidden",
}
SHOWN = 200
TEXT_CHARS = 280


def action_name(action: dict[str, Any]) -> str:
    """The policy-file name of a stored action (`acknowledge`, `queue`…)."""
    kind = str(action.get("type", "?"))
    return ACTION_NAMES.get(kind, kind)


def _shorten(text: str, width: int = TEXT_CHARS) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _described(actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Actions for the report: named as in the policy file, times as ISO text."""
    return [
        {"action": action_name(a), **{k: _jsonable(v) for k, v in a.items() if k != "type"}} for a in actions
    ]


@dataclass(slots=True)
class _Listed:
    total: int = 0
    items: list[dict[str, Any]] = field(default_factory=list)


@dataclass(slots=True)
class ReplayTally:
    """Counts and bounded lists of one replay, fed one message at a time."""

    shown: int = SHOWN
    messages: int = 0
    kept: int = 0
    rules_changed: int = 0
    trolls_no_longer_hidden: int = 0
    actions_before: Counter[str] = field(default_factory=Counter)
    actions_after: Counter[str] = field(default_factory=Counter)
    rules_before: Counter[str] = field(default_factory=Counter)
    rules_after: Counter[str] = field(default_factory=Counter)
    lists: dict[str, _Listed] = field(default_factory=lambda: {name: _Listed() for name in LISTS})

    def add(self, row: StoredRow, rule_id: str, actions: list[dict[str, Any]], redecided: bool) -> None:
        """Count one message: its stored decision (before) and the replayed one (after)."""
        self.messages += 1
        self.kept += not redecided
        before = [action_name(a) for a in row.actions]
        after = [action_name(a) for a in actions]
        self.actions_before.update(before)
        self.actions_after.update(after)
        self.rules_before[row.rule_id] += 1
        self.rules_after[rule_id] += 1
        self.rules_changed += row.rule_id != rule_id
        if sorted(before) == sorted(after):
            return
        entry: dict[str, Any] | None = None
        found = ["changed"]
        acked_before, acked_after = "acknowledge" in before, "acknowledge" in after
        if acked_after and not acked_before:
            found.append("acks_started")
        elif acked_before and not acked_after:
            found.append("acks_stopped")
        if row.category == "troll":
            hidden_before, hidden_after = "hide" in before, "hide" in after
            if hidden_after and not hidden_before:
                found.append("trolls_newly_hidden")
            elif hidden_before and not hidden_after:
                self.trolls_no_longer_hidden += 1
        for name in found:
            listed = self.lists[name]
            listed.total += 1
            if len(listed.items) < self.shown:
                entry = entry or _entry(row, rule_id, actions)
                listed.items.append(entry)

    def report(
        self, *, policy_version: str, source: str, since: datetime | None, seconds: float
    ) -> dict[str, Any]:
        """The JSON-ready report (see docs/policy.md, "Replaying history")."""
        kinds = list(ACTION_NAMES.values())
        kinds += sorted((set(self.actions_before) | set(self.actions_after)) - set(kinds))
        rules = sorted(set(self.rules_before) | set(self.rules_after))
        return {
            "policy_version": policy_version,
            "source": source,
            "since": since.isoformat() if since is not None else None,
            "seconds": round(seconds, 3),
            "messages": self.messages,
            "redecided": self.messages - self.kept,
            "kept": self.kept,
            "actions": {
                kind: {"before": self.actions_before[kind], "after": self.actions_after[kind]}
                for kind in kinds
            },
            "rules": {
                rule: {"before": self.rules_before[rule], "after": self.rules_after[rule]} for rule in rules
            },
            "rules_changed": self.rules_changed,
            "trolls_no_longer_hidden": self.trolls_no_longer_hidden,
            **{name: {"total": listed.total, "items": listed.items} for name, listed in self.lists.items()},
        }


def _entry(row: StoredRow, rule_id: str, actions: list[dict[str, Any]]) -> dict[str, Any]:
    pending = row.message
    author = f"@{pending.author_username}" if pending.author_username else pending.author_external_id
    return {
        "message_id": pending.id,
        "ref": f"{pending.platform}:{pending.external_id}",
        "thread_id": pending.thread_id,
        "author": author,
        "created_at": pending.created_at.isoformat(),
        "category": row.category,
        "language": row.language,
        "text": _shorten(pending.text),
        "before": {"rule": row.rule_id, "actions": _described(row.actions)},
        "after": {"rule": rule_id, "actions": _described(actions)},
    }


def action_line(action: dict[str, Any], width: int | None = 70) -> str:
    """One described action as short text: `acknowledge "Hi Ann…"`, `queue p70`, `ignore` (`width`: None for whole texts)."""
    name = action.get("action", "?")
    if name == "acknowledge":
        return f"acknowledge {_quoted(action.get('text'), width)}"
    if name == "move_to_private":
        return f"move_to_private {_quoted(action.get('private_text'), width)}"
    if name == "queue":
        return f"queue p{action.get('priority')}"
    return str(name)


def _quoted(text: Any, width: int | None = 70) -> str:
    flat = " ".join(str(text or "").split())
    return '"' + (flat if width is None else _shorten(flat, width)) + '"'


def format_report(report: dict[str, Any], limit: int = 20) -> str:
    """The report as a table and lists for people (`limit` messages per list)."""
    since = report["since"] or "the beginning"
    lines = [
        f"policy replay: {report['messages']} messages since {since}, policy version "
        f"{report['policy_version']} ({report['source']}), {report['seconds']:.1f} s; nothing was sent",
        "",
        f"{'action':<18}{'before':>9}{'after':>9}{'change':>9}",
    ]
    for kind, counts in report["actions"].items():
        change = counts["after"] - counts["before"]
        lines.append(f"{kind:<18}{counts['before']:>9}{counts['after']:>9}{change:>+9}")
    lines.append("")
    lines.append(
        f"deciding rule changed for {report['rules_changed']} messages; "
        f"{report['kept']} kept their stored decision (private chats opened from our link)"
    )
    for name in LISTS:
        listed = report[name]
        lines.append("")
        lines.append(f"{LIST_TITLES[name]}: {listed['total']}")
        for entry in listed["items"][:limit]:
            lines.append(
                f"  #{entry['message_id']} {entry['ref']} {entry['author']} ({entry['category']}): "
                f"{_quoted(entry['text'])}"
            )
            for side in ("before", "after"):
                shown = ", ".join(action_line(a) for a in entry[side]["actions"]) or "no actions"
                lines.append(f"      {side + ':':<8}rule {entry[side]['rule']}: {shown}")
        if listed["total"] > min(limit, len(listed["items"])):
            lines.append(
                f"  … {listed['total'] - min(limit, len(listed['items']))} more (--json lists up to {SHOWN})"
            )
    if report["trolls_no_longer_hidden"]:
        lines.append("")
        lines.append(f"Trolls no longer hidden: {report['trolls_no_longer_hidden']}")
    return "\n".join(lines)
