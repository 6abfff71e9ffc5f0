"""Repository for people's labels on messages, and their export as JSON Lines training files."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite

from storage import tables as t
from storage.outbox import audit
from tactful.labels import LabelTask, TrainingLabel

ACTOR_MAX = 128  # audit_log.actor, human_labels.actor and review_items.resolved_by hold 128 characters

# Characters JSON leaves raw that some line readers (str.splitlines) take for line ends.
_LINE_BREAKERS = str.maketrans({"\u0085": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})


@dataclass(frozen=True, slots=True)
class StoredLabel:
    """The label a person gave a message for one task (the latest one)."""

    message_id: int
    task: LabelTask
    label: str
    actor: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class LabelChange:
    """What one labelling did: the new label and the one it replaced, if any."""

    message_id: int
    task: LabelTask
    label: str
    previous_label: str | None
    previous_actor: str | None


@dataclass(frozen=True, slots=True)
class TrainingExample:
    """One line of a training file: `platform:external_id`, the text as stored, the label."""

    id: str
    text: str
    label: str

    def to_json_line(self) -> str:
        """Return the example as one JSON line (no trailing newline) that every line reader keeps whole."""
        data = {"id": self.id, "text": self.text, "label": self.label}
        line = json.dumps(data, ensure_ascii=False).translate(_LINE_BREAKERS)
        try:
            line.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: only escaped it can be written as UTF-8
            line = json.dumps(data, ensure_ascii=True)
        return line


def check_actor(actor: str) -> str:
    """Return the actor name stripped, or raise ValueError if it is empty or too long."""
    name = actor.strip()
    if not name:
        raise ValueError("an actor name is required")
    if len(name) > ACTOR_MAX:
        raise ValueError(f"actor name is longer than {ACTOR_MAX} characters")
    if not name.isprintable():
        raise ValueError("actor name contains control characters")
    return name


def set_label(
    conn: Connection, message_id: int, label: TrainingLabel, actor: str, now: datetime, **context: Any
) -> LabelChange:
    """Record `actor`'s label for a message, replacing an earlier one for the same task, with an audit row.

    Runs in the caller's transaction; `context` (e.g. ``review_item_id``, ``given_as``) goes into
    the audit entry, which also keeps the label replaced.
    """
    name = check_actor(actor)
    hl = t.human_labels
    previous = conn.execute(
        select(hl.c.label, hl.c.actor).where(hl.c.message_id == message_id, hl.c.task == label.task.value)
    ).first()
    values = {
        "message_id": message_id,
        "task": label.task.value,
        "label": label.label,
        "actor": name,
        "created_at": now,
    }
    dialect = conn.dialect.name
    if dialect == "postgresql":
        stmt: Any = postgresql.insert(hl).values(**values)
    elif dialect == "sqlite":
        stmt = sqlite.insert(hl).values(**values)
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        raise NotImplementedError(f"unsupported database dialect {dialect}")
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["message_id", "task"],
            set_={"label": label.label, "actor": name, "created_at": now},
        )
    )
    change = LabelChange(
        message_id=message_id,
        task=label.task,
        label=label.label,
        previous_label=previous.label if previous else None,
        previous_actor=previous.actor if previous else None,
    )
    audit(
        conn,
        now,
        name,
        "label.set",
        "message",
        str(message_id),
        task=change.task.value,
        label=change.label,
        previous_label=change.previous_label,
        previous_actor=change.previous_actor,
        **context,
    )
    return change


def labels_for_message(conn: Connection, message_id: int) -> dict[LabelTask, StoredLabel]:
    """Return the current label of each task a person has labelled this message for."""
    hl = t.human_labels
    rows = conn.execute(
        select(hl.c.task, hl.c.label, hl.c.actor, hl.c.created_at).where(hl.c.message_id == message_id)
    )
    return {
        LabelTask(row.task): StoredLabel(
            message_id, LabelTask(row.task), row.label, row.actor, row.created_at
        )
        for row in rows
    }


def export_labels(conn: Connection, task: LabelTask, since: datetime | None = None) -> list[TrainingExample]:
    """Return the task's human-labelled messages by message id; `since` keeps labels given at or after it."""
    hl, m = t.human_labels, t.messages
    query = (
        select(m.c.platform, m.c.external_id, m.c.text, hl.c.label)
        .join(m, m.c.id == hl.c.message_id)
        .where(hl.c.task == task.value)
        .order_by(hl.c.message_id)
    )
    if since is not None:
        query = query.where(hl.c.created_at >= since)
    return [
        TrainingExample(id=f"{row.platform}:{row.external_id}", text=row.text, label=row.label)
        for row in conn.execute(query)
    ]


def write_jsonl(examples: Iterable[TrainingExample], out: TextIO) -> int:
    """Write examples as JSON Lines (`{"id","text","label"}`) and return how many were written."""
    count = 0
    for example in examples:
        out.write(example.to_json_line())
        out.write("\n")
        count += 1
    return count


def write_training_file(path: Path, examples: Iterable[TrainingExample]) -> int:
    """Write a JSON Lines training file whole or not at all (temporary file, then rename); return the count."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as out:
            count = write_jsonl(examples, out)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return count
