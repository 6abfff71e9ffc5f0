"""The label vocabulary: the labels of training files per task, and the names people give in the queue.

Kept free of database imports so the command line can offer the choices without loading storage.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType


class LabelTask(StrEnum):
    """A training task; each has its own training file and label set."""

    COMPLAINT = "complaint"
    OFFENSIVE = "offensive"
    SENTIMENT = "sentiment"


TASK_LABELS: Mapping[LabelTask, tuple[str, ...]] = MappingProxyType(
    {
        LabelTask.COMPLAINT: ("complaint", "not_complaint"),
        LabelTask.OFFENSIVE: ("offensive", "not_offensive"),
        LabelTask.SENTIMENT: ("negative", "neutral", "positive"),
    }
)


@dataclass(frozen=True, slots=True)
class TrainingLabel:
    """One label of one task, as it is written in a training file."""

    task: LabelTask
    label: str

    def __post_init__(self) -> None:
        if self.label not in TASK_LABELS[self.task]:
            allowed = ", ".join(TASK_LABELS[self.task])
            raise ValueError(f"{self.label!r} is not a {self.task} label; allowed: {allowed}")


# What a person says in the review queue, and the training label it stands for. A troll is what the
# offensive task calls offensive: `troll` → offensive, `not_troll` → not_offensive.
QUEUE_LABELS: Mapping[str, TrainingLabel] = MappingProxyType(
    {
        "complaint": TrainingLabel(LabelTask.COMPLAINT, "complaint"),
        "not_complaint": TrainingLabel(LabelTask.COMPLAINT, "not_complaint"),
        "troll": TrainingLabel(LabelTask.OFFENSIVE, "offensive"),
        "not_troll": TrainingLabel(LabelTask.OFFENSIVE, "not_offensive"),
        "negative": TrainingLabel(LabelTask.SENTIMENT, "negative"),
        "neutral": TrainingLabel(LabelTask.SENTIMENT, "neutral"),
        "positive": TrainingLabel(LabelTask.SENTIMENT, "positive"),
    }
)


def parse_queue_label(name: str) -> TrainingLabel:
    """Map a queue label name (`troll`, `not_complaint`, `positive`…) to its training label.

    `troll` and `not_troll` map to the offensive task's `offensive` and `not_offensive`;
    the complaint and sentiment names are the training labels themselves. Case and surrounding
    blanks are ignored. Raises ValueError naming the allowed names for anything else.
    """
    key = name.strip().lower()
    if key not in QUEUE_LABELS:
        raise ValueError(f"unknown label {name!r}; allowed: {', '.join(QUEUE_LABELS)}")
    return QUEUE_LABELS[key]


def parse_task(name: str) -> LabelTask:
    """Return the training task called `name`; ValueError naming the tasks otherwise."""
    try:
        return LabelTask(name.strip().lower())
    except ValueError:
        raise ValueError(f"unknown task {name!r}; allowed: {', '.join(LabelTask)}") from None
