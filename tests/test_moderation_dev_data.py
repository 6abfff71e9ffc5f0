"""Checks against the labelled development data in ../shared/data (skipped when absent)."""

import json
from pathlib import Path

import pytest

from moderation.classifier import Moderator
from moderation.verdict import Category

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
COMPLAINTS = DATA / "complaints_dev.jsonl"

pytestmark = [
    pytest.mark.shared_data,
    pytest.mark.skipif(not COMPLAINTS.exists(), reason=f"labelled dev data not found at {COMPLAINTS}"),
]


def test_false_troll_rate_on_true_complaints_below_one_percent():
    rows = [json.loads(line) for line in COMPLAINTS.read_text("utf-8").splitlines() if line.strip()]
    complaints = [row["text"] for row in rows if row["label"] == "complaint"]
    verdicts = Moderator().classify_texts(complaints)
    trolls = sum(v.category == Category.TROLL for v in verdicts)
    assert trolls / len(complaints) < 0.01
