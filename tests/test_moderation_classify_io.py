import io
import json

import pytest

from moderation.__main__ import main
from moderation.classifier import Moderator
from moderation.classify_io import classify_stream


@pytest.fixture(scope="module")
def moderator() -> Moderator:
    return Moderator()


def test_malformed_lines_are_reported_and_others_classified(moderator):
    lines = [
        json.dumps({"id": "a", "text": "my order never arrived, 3 weeks!"}),
        "{not json",
        json.dumps({"text": "no id"}),
        json.dumps({"id": "b"}),
        json.dumps({"id": "c", "text": 42}),
        "",
        json.dumps({"id": 7, "text": "Do you ship to Canada?", "lang": "en"}),
        json.dumps({"id": "d", "text": "hi", "lang": 3}),
        json.dumps(["id", "text"]),
    ]
    out, err = io.StringIO(), io.StringIO()
    summary = classify_stream(lines, moderator, out, err, batch_size=1)
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [row["id"] for row in rows] == ["a", 7]
    assert rows[0]["category"] == "complaint"
    assert set(rows[0]) == {
        "id",
        "category",
        "sentiment",
        "sentiment_score",
        "toxicity",
        "complaint",
        "language",
        "explanation",
    }
    errors = err.getvalue().splitlines()
    assert errors[0].startswith("line 2: invalid JSON")
    assert errors[1] == 'line 3: missing "id"'
    assert errors[2] == 'line 4: missing "text"'
    assert errors[3] == 'line 5: "text" must be a string, got int'
    assert errors[4] == 'line 8: "lang" must be a string, got int'
    assert errors[5] == "line 9: expected a JSON object, got list"
    assert (summary.total, summary.classified, summary.errors) == (8, 2, 6)


def test_output_order_is_input_order_across_batches(moderator):
    lines = [json.dumps({"id": i, "text": f"question {i}?"}) for i in range(25)]
    out = io.StringIO()
    summary = classify_stream(lines, moderator, out, io.StringIO(), batch_size=4)
    assert [json.loads(line)["id"] for line in out.getvalue().splitlines()] == list(range(25))
    assert summary.errors == 0


def test_main_exit_codes(tmp_path, capsys):
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps({"id": 1, "text": "thank you, love it!"}) + "\n", "utf-8")
    assert main([str(good)]) == 0
    assert json.loads(capsys.readouterr().out)["category"] == "praise"
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": 1, "text": "ok"}) + "\n{oops\n", "utf-8")
    assert main([str(bad)]) == 1
    assert "line 2:" in capsys.readouterr().err
