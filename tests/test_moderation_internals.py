"""Speed-ups must not change results: fast VADER equals stock VADER, gated rules equal ungated."""

import json
from pathlib import Path

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from moderation import condescension, rules, sarcasm, toxicity
from moderation.scorer import Scorer
from moderation.sentiment import FastSentimentIntensityAnalyzer, VaderScorer, rephrase_idioms
from moderation.textgate import normalise, words_of

CASES = json.loads((Path(__file__).parent / "fixtures" / "moderation" / "cases.json").read_text("utf-8"))
TEXTS = [t for key in ("complaint", "troll", "spam", "question", "praise", "corpus") for t in CASES[key]]
TEXTS += list(CASES["non_english"].values())
TEXTS += [case["text"] for case in CASES["hand_written"]]
TEXTS += [
    "😀abc",
    "a😀😀 b",
    "  😀 x ",
    "x😀",
    "é😀 ü",
    "never so good",
    "without doubt great",
    "kind of bad",
    "not bad at all",
]


def test_fast_vader_equals_stock_vader():
    stock, fast = SentimentIntensityAnalyzer(), FastSentimentIntensityAnalyzer()
    for text in TEXTS:
        assert fast.polarity_scores(text) == stock.polarity_scores(text), text


def test_gates_never_change_counts():
    gates = list(rules._PROBLEM_RULES)
    gates += [
        getattr(module, name)
        for module in (rules, toxicity, condescension)
        for name in dir(module)
        if name.endswith("_GATE")
    ]
    for text in TEXTS:
        lowered = normalise(text)
        words = words_of(lowered)
        for gate in gates:
            assert gate.count(lowered, words) == len(gate.pattern.findall(lowered)), (
                gate.pattern.pattern[:40],
                text,
            )


def test_sarcasm_gates_never_change_evidence():
    found = 0
    for text in TEXTS:
        lowered = normalise(text)
        evidence = sarcasm.sarcasm_evidence(lowered, words_of(lowered))
        assert evidence == sarcasm.sarcasm_evidence(lowered, sarcasm.GATE_WORDS), text
        found += evidence is not None
    assert found >= 20


def test_idioms_vader_misreads_are_rephrased():
    assert rephrase_idioms("Can't wait for Friday!") == "am thrilled for Friday!"
    assert rephrase_idioms("I can\u2019t wait to see it") == "I am thrilled to see it"
    assert rephrase_idioms("I can't wait any longer for my refund") == "I can't wait any longer for my refund"
    assert rephrase_idioms("Your support is a JOKE") == "Your support is a disgrace"
    assert rephrase_idioms("tell me a joke") == "tell me a joke"
    scores = VaderScorer().score(["Can't wait to see you on Friday", "Your support is a joke"])
    assert scores["sentiment_compound"][0] >= 0.35
    assert scores["sentiment_compound"][1] < 0


def test_scorers_follow_the_interface():
    for scorer in (VaderScorer(), toxicity.ToxicityScorer(), rules.RuleScorer()):
        assert isinstance(scorer, Scorer)
        scores = scorer.score(TEXTS)
        assert all(len(values) == len(TEXTS) for values in scores.values())
        assert all(len(values) == 0 for values in scorer.score([]).values())
