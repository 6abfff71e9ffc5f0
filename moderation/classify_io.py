"""JSON Lines classification: read `{"id","text"[,"lang"]}` lines, write one verdict line per valid input."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TextIO

from moderation.classifier import ModerationInput, Moderator
from moderation.verdict import Verdict


@dataclass(frozen=True, slots=True)
class ClassifySummary:
    """Counts of one run: lines read (non-blank), lines classified, malformed lines."""

    total: int
    classified: int
    errors: int


@dataclass(frozen=True, slots=True)
class _Row:
    """A valid input line: its id (as given) and what to classify."""

    id: Any
    item: ModerationInput


def parse_line(line: str) -> _Row:
    """Parse one JSON Lines record; raise ValueError with a human-readable reason if malformed."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(record, dict):
        raise ValueError(f"expected a JSON object, got {type(record).__name__}")
    if "id" not in record:
        raise ValueError('missing "id"')
    record_id = record["id"]
    if not isinstance(record_id, str | int) or isinstance(record_id, bool):
        raise ValueError('"id" must be a string or an integer')
    if "text" not in record:
        raise ValueError('missing "text"')
    text = record["text"]
    if not isinstance(text, str):
        raise ValueError(f'"text" must be a string, got {type(text).__name__}')
    lang = record.get("lang")
    if lang is not None and not isinstance(lang, str):
        raise ValueError(f'"lang" must be a string, got {type(lang).__name__}')
    return _Row(record_id, ModerationInput(text, lang))


def verdict_record(record_id: Any, verdict: Verdict) -> dict[str, Any]:
    """Return the output JSON object for one verdict."""
    return {
        "id": record_id,
        "category": verdict.category.value,
        "sentiment": verdict.sentiment.value,
        "sentiment_score": verdict.sentiment_score,
        "toxicity": verdict.toxicity,
        "complaint": verdict.complaint,
        "language": verdict.language,
        "explanation": verdict.explanation,
    }


def classify_stream(
    lines: Iterable[str], moderator: Moderator, out: TextIO, err: TextIO, batch_size: int = 2000
) -> ClassifySummary:
    """Classify JSON Lines from `lines` in batches, writing verdicts to `out` in input order.

    Blank lines are skipped. A malformed line is reported on `err` as
    "line N: reason" and does not stop the others.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    total = classified = errors = 0
    for batch, batch_errors in _batches(lines, batch_size):
        for line_number, reason in batch_errors:
            err.write(f"line {line_number}: {reason}\n")
        errors += len(batch_errors)
        total += len(batch) + len(batch_errors)
        if batch:
            verdicts = moderator.classify([row.item for row in batch])
            out.write(
                "".join(
                    json.dumps(verdict_record(row.id, verdict), ensure_ascii=False) + "\n"
                    for row, verdict in zip(batch, verdicts, strict=True)
                )
            )
            classified += len(batch)
    out.flush()
    err.flush()
    return ClassifySummary(total=total, classified=classified, errors=errors)


def _batches(lines: Iterable[str], batch_size: int) -> Iterator[tuple[list[_Row], list[tuple[int, str]]]]:
    """Group lines into batches of valid rows, with the (line number, reason) of malformed ones."""
    rows: list[_Row] = []
    bad: list[tuple[int, str]] = []
    for line_number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rows.append(parse_line(line))
        except ValueError as exc:
            bad.append((line_number, str(exc)))
        if len(rows) >= batch_size:
            yield rows, bad
            rows, bad = [], []
    if rows or bad:
        yield rows, bad
