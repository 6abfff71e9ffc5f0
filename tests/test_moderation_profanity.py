"""The scikit-learn-free profanity model must give alt-profanity-check's probabilities."""

import json
import math
from pathlib import Path

import pytest
from profanity_check import predict_prob

from moderation.profanity import ProfanityModel, export_profanity_check, load_profanity_model

CASES = json.loads((Path(__file__).parent / "fixtures" / "moderation" / "cases.json").read_text("utf-8"))
TEXTS = [t for key in ("complaint", "troll", "spam", "question", "praise", "corpus") for t in CASES[key]]
TEXTS += list(CASES["non_english"].values())
TEXTS += ["", "   ", "a", "FUCK fuck Fuck!!", "shit " * 200, "日本語のテキスト", "ÉCOLE école", "x_y z9 __"]


@pytest.fixture(scope="module")
def exported():
    return export_profanity_check()


def test_probabilities_equal_alt_profanity_check(exported):
    mine = ProfanityModel(exported).predict_prob(TEXTS)
    reference = predict_prob(TEXTS)
    assert len(mine) == len(TEXTS)
    for text, ours, theirs in zip(TEXTS, mine, reference, strict=True):
        assert ours == pytest.approx(float(theirs), abs=1e-9), text


def test_model_is_read_from_the_cache_file(tmp_path):
    path = tmp_path / "model.json"
    tiny = {
        "format": 1,
        "vocabulary": {"bad": 0, "awful": 1},
        "idf": [1.0, 2.0],
        "weights": [[2.0, 0.0]],
        "classifiers": [[0.0, -1.0, 0.0]],
    }
    path.write_text(json.dumps(tiny), "utf-8")
    model = load_profanity_model(path)
    bad, neutral, mixed = model.predict_prob(["BAD", "good day", "bad awful"])
    assert bad == pytest.approx(1 / (1 + math.exp(-2.0)))
    assert neutral == 0.5
    # tf-idf (1, 2) normalised to (1, 2) / sqrt(5): decision 2 / sqrt(5)
    assert mixed == pytest.approx(1 / (1 + math.exp(-2.0 / math.sqrt(5))))


def test_missing_or_corrupt_cache_is_exported_again(tmp_path, exported):
    path = tmp_path / "cache" / "model.json"
    first = load_profanity_model(path)
    assert json.loads(path.read_text("utf-8"))["vocabulary"] == exported["vocabulary"]
    path.write_text("{not json", "utf-8")
    second = load_profanity_model(path)
    assert json.loads(path.read_text("utf-8"))["format"] == 1
    assert first.predict_prob(TEXTS[:5]) == second.predict_prob(TEXTS[:5])


def test_unwritable_cache_still_gives_a_model(tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("", "utf-8")
    model = load_profanity_model(blocker / "model.json")
    assert model.predict_prob(["you idiot"]) == pytest.approx([float(predict_prob(["you idiot"])[0])])
