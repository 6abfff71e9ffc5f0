"""The labelled tasks (complaint, offensive, sentiment) and their JSON Lines files.

A labelled file has one JSON object a line: `{"id": ..., "text": ..., "label": ...}` (other
fields are ignored), with the labels of `TASKS[task].labels`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tactful.errors import TactfulError


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """What a task predicts: its labels in output order, its positive label, its signal names."""

    name: str
    labels: tuple[str, ...]
    positive: str | None  # the positive label of a binary task; None for multiclass
    signals: tuple[str, ...]  # the trained scorer's output signals, one per model output


TASKS: dict[str, TaskSpec] = {
    "complaint": TaskSpec("complaint", ("not_complaint", "complaint"), "complaint", ("trained_complaint",)),
    "offensive": TaskSpec("offensive", ("not_offensive", "offensive"), "offensive", ("trained_offensive",)),
    "sentiment": TaskSpec(
        "sentiment",
        ("negative", "neutral", "positive"),
        None,
        ("trained_sentiment_negative", "trained_sentiment_neutral", "trained_sentiment_positive"),
    ),
}


class LabelledDataError(TactfulError):
    """A labelled file cannot be read or has a bad line; the message names the file and line."""


@dataclass(frozen=True, slots=True)
class LabelledSet:
    """The rows of one labelled file, in file order, with the file's sha256."""

    path: Path
    sha256: str
    ids: tuple[str, ...]
    texts: tuple[str, ...]
    labels: tuple[str, ...]

    def subset(self, keep: list[int]) -> LabelledSet:
        """The rows at the given positions (same path and hash)."""
        return LabelledSet(
            self.path,
            self.sha256,
            tuple(self.ids[i] for i in keep),
            tuple(self.texts[i] for i in keep),
            tuple(self.labels[i] for i in keep),
        )

    def label_counts(self) -> dict[str, int]:
        """Rows per label."""
        counts: dict[str, int] = {}
        for label in self.labels:
            counts[label] = counts.get(label, 0) + 1
        return dict(sorted(counts.items()))


def read_labelled(path: str | Path, task: str) -> LabelledSet:
    """Read a labelled JSON Lines file for `task`; raise LabelledDataError naming the line at fault."""
    spec = TASKS[task]
    source = Path(path)
    try:
        data = source.read_bytes()
    except OSError as exc:
        raise LabelledDataError(f"{source}: cannot read ({exc.strerror})") from None
    ids: list[str] = []
    texts: list[str] = []
    labels: list[str] = []
    seen: set[str] = set()
    try:
        lines = data.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        raise LabelledDataError(f"{source}: not UTF-8 text") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        record_id, text, label = _parse(line, spec, f"{source}: line {number}")
        if record_id in seen:
            raise LabelledDataError(f"{source}: line {number}: id {record_id!r} repeats an earlier line")
        seen.add(record_id)
        ids.append(record_id)
        texts.append(text)
        labels.append(label)
    if not ids:
        raise LabelledDataError(f"{source}: no labelled rows")
    return LabelledSet(source, hashlib.sha256(data).hexdigest(), tuple(ids), tuple(texts), tuple(labels))


def _parse(line: str, spec: TaskSpec, where: str) -> tuple[str, str, str]:
    """One line's (id, text, label), or LabelledDataError."""
    try:
        record: Any = json.loads(line)
    except json.JSONDecodeError as exc:
        raise LabelledDataError(f"{where}: invalid JSON ({exc.msg})") from None
    if not isinstance(record, dict):
        raise LabelledDataError(f"{where}: expected a JSON object")
    record_id = record.get("id")
    if isinstance(record_id, bool) or not isinstance(record_id, str | int):
        raise LabelledDataError(f'{where}: "id" must be a string or an integer')
    text = record.get("text")
    if not isinstance(text, str):
        raise LabelledDataError(f'{where}: "text" must be a string')
    label = record.get("label")
    if label not in spec.labels:
        raise LabelledDataError(
            f'{where}: "label" must be one of {", ".join(spec.labels)} for the {spec.name} task, got {label!r}'
        )
    return str(record_id), text, str(label)


def split_holdout(data: LabelledSet, fraction: float) -> tuple[list[int], list[int]]:
    """Deterministic stratified split: (training positions, held-out positions).

    Within each label, rows are ordered by sha256 of their id and the first `round(fraction * n)`
    are held out, so the split depends only on the ids and labels, never on file order or chance.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError("the held-out fraction must be in [0, 1)")
    held: list[int] = []
    for label in sorted(set(data.labels)):
        positions = [i for i, row_label in enumerate(data.labels) if row_label == label]
        positions.sort(key=lambda i: hashlib.sha256(data.ids[i].encode("utf-8")).hexdigest())
        held.extend(positions[: round(fraction * len(positions))])
    held_set = set(held)
    return [i for i in range(len(data.ids)) if i not in held_set], sorted(held)
