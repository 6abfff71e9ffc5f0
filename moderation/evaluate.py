"""Classification metrics for the labelled tasks: per-class precision/recall/F1, macro figures, confusion.

Predictions are read from verdicts as `/work/shared/eval/score.py` does: complaint :=
category "complaint", offensive := toxicity >= 0.5, sentiment := the sentiment label. For the
complaint task the false-troll rate (true complaints given category "troll") is reported too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from moderation.tasks import TASKS
from moderation.verdict import Category, Verdict

OFFENSIVE_AT = 0.5


@dataclass(frozen=True, slots=True)
class ClassMetrics:
    """Precision, recall and F1 of one label, with its number of gold rows (support)."""

    label: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True, slots=True)
class Evaluation:
    """Every figure of one evaluation. `confusion[i][j]`: rows with gold labels[i] predicted labels[j]."""

    task: str
    labels: tuple[str, ...]
    classes: tuple[ClassMetrics, ...]
    confusion: tuple[tuple[int, ...], ...]
    total: int
    accuracy: float
    macro_f1: float
    macro_recall: float
    false_troll_rate: float | None = None
    texts_per_second: float | None = None

    def metric(self, name: str) -> float:
        """A headline figure by name: "f1" (of the positive label), "macro_f1" or "macro_recall"."""
        if name == "macro_f1":
            return self.macro_f1
        if name == "macro_recall":
            return self.macro_recall
        if name == "f1":
            positive = TASKS[self.task].positive
            for metrics in self.classes:
                if metrics.label == positive:
                    return metrics.f1
        raise ValueError(f"no metric {name!r} for task {self.task}")

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready object of every figure."""
        result: dict[str, Any] = {
            "task": self.task,
            "total": self.total,
            "labels": list(self.labels),
            "classes": {
                c.label: {"precision": c.precision, "recall": c.recall, "f1": c.f1, "support": c.support}
                for c in self.classes
            },
            "confusion": [list(row) for row in self.confusion],
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "macro_recall": self.macro_recall,
        }
        if self.false_troll_rate is not None:
            result["false_troll_rate"] = self.false_troll_rate
        if self.texts_per_second is not None:
            result["texts_per_second"] = self.texts_per_second
        return result


def confusion_matrix(gold: Sequence[str], predicted: Sequence[str], labels: Sequence[str]) -> list[list[int]]:
    """Counts of (gold, predicted) label pairs, rows gold and columns predicted, in `labels` order."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold labels but {len(predicted)} predictions")
    position = {label: i for i, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for g, p in zip(gold, predicted, strict=True):
        if g not in position or p not in position:
            raise ValueError(f"label {(g if g not in position else p)!r} is not one of {list(labels)}")
        matrix[position[g]][position[p]] += 1
    return matrix


def evaluate(
    task: str,
    gold: Sequence[str],
    predicted: Sequence[str],
    false_troll_rate: float | None = None,
    texts_per_second: float | None = None,
) -> Evaluation:
    """Compute every figure of `predicted` against `gold` for a task's labels."""
    labels = TASKS[task].labels
    matrix = confusion_matrix(gold, predicted, labels)
    classes = []
    for i, label in enumerate(labels):
        true_positive = matrix[i][i]
        predicted_count = sum(row[i] for row in matrix)
        support = sum(matrix[i])
        precision = _ratio(true_positive, predicted_count)
        recall = _ratio(true_positive, support)
        f1 = _ratio(2 * precision * recall, precision + recall)
        classes.append(ClassMetrics(label, precision, recall, f1, support))
    total = len(gold)
    return Evaluation(
        task=task,
        labels=labels,
        classes=tuple(classes),
        confusion=tuple(tuple(row) for row in matrix),
        total=total,
        accuracy=_ratio(sum(matrix[i][i] for i in range(len(labels))), total),
        macro_f1=sum(c.f1 for c in classes) / len(classes),
        macro_recall=sum(c.recall for c in classes) / len(classes),
        false_troll_rate=false_troll_rate,
        texts_per_second=texts_per_second,
    )


def predicted_labels(task: str, verdicts: Sequence[Verdict]) -> list[str]:
    """Read a task's predicted label from each verdict (see the module docstring)."""
    if task == "complaint":
        return ["complaint" if v.category is Category.COMPLAINT else "not_complaint" for v in verdicts]
    if task == "offensive":
        return ["offensive" if v.toxicity >= OFFENSIVE_AT else "not_offensive" for v in verdicts]
    if task == "sentiment":
        return [v.sentiment.value for v in verdicts]
    raise ValueError(f"unknown task {task!r}")


def false_troll_rate(gold: Sequence[str], verdicts: Sequence[Verdict]) -> float:
    """Share of true complaints whose verdict category is troll (0 when there are none)."""
    categories = [v.category for g, v in zip(gold, verdicts, strict=True) if g == "complaint"]
    return _ratio(sum(c is Category.TROLL for c in categories), len(categories))


def format_report(evaluation: Evaluation) -> str:
    """A human-readable report: per-class table, macro figures, confusion matrix, throughput."""
    width = max(len(label) for label in evaluation.labels) + 2
    lines = [
        f"task {evaluation.task}: {evaluation.total} texts",
        f"{'label':<{width}}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}",
    ]
    for c in evaluation.classes:
        lines.append(f"{c.label:<{width}}{c.precision:>10.3f}{c.recall:>10.3f}{c.f1:>10.3f}{c.support:>10}")
    lines.append(f"macro-F1 {evaluation.macro_f1:.3f}")
    if evaluation.task == "sentiment":
        lines.append(f"macro-recall {evaluation.macro_recall:.3f}")
    lines.append(f"accuracy {evaluation.accuracy:.3f}")
    if evaluation.false_troll_rate is not None:
        lines.append(f"false-troll rate {evaluation.false_troll_rate:.2%}")
    lines.append("confusion (rows gold, columns predicted):")
    cell = max(width, max(len(str(n)) for row in evaluation.confusion for n in row) + 2)
    lines.append(" " * width + "".join(f"{label:>{cell}}" for label in evaluation.labels))
    for label, row in zip(evaluation.labels, evaluation.confusion, strict=True):
        lines.append(f"{label:<{width}}" + "".join(f"{n:>{cell}}" for n in row))
    if evaluation.texts_per_second is not None:
        lines.append(f"throughput {evaluation.texts_per_second:.0f} texts/s")
    return "\n".join(lines)


def _ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, 0 when the denominator is 0."""
    return numerator / denominator if denominator else 0.0
