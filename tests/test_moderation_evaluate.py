"""Metrics of moderation.evaluate, on hand-computed cases, and `tactful eval` on a small fixture."""

import json
from pathlib import Path

import pytest

from moderation.evaluate import (
    confusion_matrix,
    evaluate,
    false_troll_rate,
    format_report,
    predicted_labels,
)
from moderation.verdict import Category, Sentiment, Verdict
from tactful.cli import main

FIXTURES = Path(__file__).parent / "fixtures" / "moderation"


def verdict(
    category: Category = Category.OTHER, toxicity: float = 0.0, sentiment: Sentiment = Sentiment.NEUTRAL
):
    return Verdict(
        category=category,
        sentiment=sentiment,
        sentiment_score=0.0,
        toxicity=toxicity,
        complaint=0.0,
        language="en",
        confidence=0.5,
        explanation="",
    )


def test_confusion_matrix_rows_are_gold_and_columns_predicted():
    gold = ["negative", "negative", "neutral", "positive", "positive", "positive"]
    pred = ["negative", "neutral", "neutral", "positive", "negative", "positive"]
    assert confusion_matrix(gold, pred, ["negative", "neutral", "positive"]) == [
        [1, 1, 0],
        [0, 1, 0],
        [1, 0, 2],
    ]


def test_confusion_matrix_rejects_unknown_labels_and_length_mismatch():
    with pytest.raises(ValueError, match="'maybe' is not one of"):
        confusion_matrix(["complaint"], ["maybe"], ["not_complaint", "complaint"])
    with pytest.raises(ValueError, match="1 gold labels but 2 predictions"):
        confusion_matrix(["complaint"], ["complaint", "complaint"], ["not_complaint", "complaint"])


def test_sentiment_per_class_and_macro_figures():
    gold = ["negative", "negative", "neutral", "positive", "positive", "positive"]
    pred = ["negative", "neutral", "neutral", "positive", "negative", "positive"]
    result = evaluate("sentiment", gold, pred)
    negative, neutral, positive = result.classes
    # negative: tp 1, predicted 2, gold 2
    assert (negative.precision, negative.recall, negative.f1, negative.support) == (0.5, 0.5, 0.5, 2)
    # neutral: tp 1, predicted 2, gold 1 -> p 0.5, r 1, f1 2/3
    assert (neutral.precision, neutral.recall) == (0.5, 1.0)
    assert neutral.f1 == pytest.approx(2 / 3)
    # positive: tp 2, predicted 2, gold 3 -> p 1, r 2/3, f1 0.8
    assert positive.precision == 1.0
    assert positive.recall == pytest.approx(2 / 3)
    assert positive.f1 == pytest.approx(0.8)
    assert result.macro_recall == pytest.approx((0.5 + 1.0 + 2 / 3) / 3)
    assert result.macro_f1 == pytest.approx((0.5 + 2 / 3 + 0.8) / 3)
    assert result.accuracy == pytest.approx(4 / 6)
    assert result.metric("macro_recall") == result.macro_recall


def test_a_label_never_predicted_scores_zero_not_an_error():
    result = evaluate("complaint", ["complaint", "not_complaint"], ["not_complaint", "not_complaint"])
    complaint = result.classes[1]
    assert (complaint.precision, complaint.recall, complaint.f1) == (0.0, 0.0, 0.0)
    assert result.metric("f1") == 0.0
    with pytest.raises(ValueError, match="no metric"):
        result.metric("auc")


def test_predicted_labels_read_verdicts_as_the_scorer_does():
    verdicts = [
        verdict(Category.COMPLAINT, toxicity=0.5, sentiment=Sentiment.NEGATIVE),
        verdict(Category.TROLL, toxicity=0.49, sentiment=Sentiment.POSITIVE),
    ]
    assert predicted_labels("complaint", verdicts) == ["complaint", "not_complaint"]
    assert predicted_labels("offensive", verdicts) == ["offensive", "not_offensive"]
    assert predicted_labels("sentiment", verdicts) == ["negative", "positive"]


def test_false_troll_rate_counts_only_true_complaints():
    gold = ["complaint", "complaint", "complaint", "complaint", "not_complaint"]
    verdicts = [
        verdict(Category.TROLL),
        verdict(Category.COMPLAINT),
        verdict(Category.QUESTION),
        verdict(Category.COMPLAINT),
        verdict(Category.TROLL),
    ]
    assert false_troll_rate(gold, verdicts) == 0.25
    assert false_troll_rate(["not_complaint"], [verdict(Category.TROLL)]) == 0.0


def test_format_report_shows_table_macro_and_confusion():
    result = evaluate(
        "complaint",
        ["complaint", "complaint", "not_complaint"],
        ["complaint", "not_complaint", "not_complaint"],
        false_troll_rate=0.0,
        texts_per_second=1234.4,
    )
    report = format_report(result)
    assert "\ncomplaint           1.000     0.500     0.667         2\n" in report
    assert "macro-F1 0.667" in report
    assert "false-troll rate 0.00%" in report
    assert "throughput 1234 texts/s" in report
    assert "macro-recall" not in report  # only for sentiment
    assert report.splitlines()[-3].split() == ["not_complaint", "1", "0"]


def test_tactful_eval_on_the_fixture_prints_the_expected_numbers(capsys):
    # Seven clear texts and one praise labelled "complaint" on purpose: one false negative.
    assert main(["eval", "--task", "complaint", str(FIXTURES / "eval_complaints.jsonl")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("model default-v1\ntask complaint: 8 texts\n")
    assert "\nnot_complaint       0.750     1.000     0.857         3\n" in out
    assert "\ncomplaint           1.000     0.800     0.889         5\n" in out
    assert "macro-F1 0.873" in out
    assert "false-troll rate 0.00%" in out
    assert "texts/s" in out


def test_tactful_eval_json(capsys):
    assert main(["eval", "--task", "complaint", "--json", str(FIXTURES / "eval_complaints.jsonl")]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["model"] == "default-v1"
    assert result["confusion"] == [[3, 0], [1, 4]]
    assert result["classes"]["complaint"]["f1"] == pytest.approx(8 / 9)
    assert result["false_troll_rate"] == 0.0
    assert result["texts_per_second"] > 0


def test_tactful_eval_names_the_bad_line(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"id": 1, "text": "fine", "label": "complaint"}\n{"id": 2, "text": "x", "label": "spam"}\n'
    )
    assert main(["eval", "--task", "complaint", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.jsonl: line 2" in err
    assert '"label" must be one of not_complaint, complaint' in err
