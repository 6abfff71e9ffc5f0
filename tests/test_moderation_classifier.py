import json
from pathlib import Path

import pytest

from moderation.classifier import MODEL_NAME, ModerationInput, Moderator, sentiment_label
from moderation.verdict import Category, Sentiment

CASES = json.loads((Path(__file__).parent / "fixtures" / "moderation" / "cases.json").read_text("utf-8"))


@pytest.fixture(scope="module")
def moderator() -> Moderator:
    return Moderator()


@pytest.mark.parametrize(
    ("category", "text"),
    [
        (category, text)
        for category in ("complaint", "troll", "spam", "question", "praise")
        for text in CASES[category]
    ],
)
def test_pinned_cases(moderator, category, text):
    verdict = moderator.classify_texts([text])[0]
    assert verdict.category == Category(category), verdict.explanation
    assert verdict.model == MODEL_NAME
    assert verdict.explanation.startswith(category + ":")


def test_angry_complaint_with_profanity_is_explained_not_troll(moderator):
    verdict = moderator.classify_texts(["my f***ing order never arrived, 3 weeks!"])[0]
    assert verdict.category == Category.COMPLAINT
    assert verdict.sentiment == Sentiment.NEGATIVE
    assert verdict.toxicity >= 0.5
    assert "order" in verdict.keywords and "never arrived" in verdict.keywords
    assert "profanity present but no insult aimed at a person" in verdict.explanation


def test_insulting_customer_with_real_problem_stays_complaint(moderator):
    verdict = moderator.classify_texts(
        ["@brand you idiots charged me twice and nobody answers, I want my refund NOW"]
    )[0]
    assert verdict.category == Category.COMPLAINT
    assert "complaint, not troll" in verdict.explanation


def test_sarcasm_over_a_problem_is_a_negative_complaint(moderator):
    verdict = moderator.classify_texts(["great, another broken phone, thanks @brand"])[0]
    assert verdict.category == Category.COMPLAINT
    assert verdict.signals["sarcasm"] == 1.0
    assert "sarcasm" in verdict.explanation


@pytest.mark.parametrize(("language", "text"), sorted(CASES["non_english"].items()))
def test_non_english_is_never_troll_and_low_confidence(moderator, language, text):
    verdict = moderator.classify_texts([text])[0]
    assert verdict.language == language
    assert verdict.category != Category.TROLL
    assert verdict.confidence <= 0.3
    assert "needs a human" in verdict.explanation


def test_language_hint_is_trusted(moderator):
    verdict = moderator.classify([ModerationInput("you are pathetic", language_hint="es")])[0]
    assert verdict.language == "es"
    assert verdict.category == Category.OTHER


def test_emoji_only_is_undetermined_with_low_confidence(moderator):
    verdict = moderator.classify_texts(["😡😡😡"])[0]
    assert verdict.language == "und"
    assert verdict.confidence <= 0.4


def test_batch_equals_per_item(moderator):
    texts = [t for key in ("complaint", "troll", "spam", "question", "praise", "corpus") for t in CASES[key]]
    texts += list(CASES["non_english"].values())
    batch = moderator.classify_texts(texts)
    single = [moderator.classify_texts([text])[0] for text in texts]
    assert batch == single
    assert moderator.classify([]) == []


def test_sentiment_thresholds():
    assert sentiment_label(-0.5) == Sentiment.NEGATIVE
    assert sentiment_label(0.0) == Sentiment.NEUTRAL
    assert sentiment_label(0.3) == Sentiment.NEUTRAL
    assert sentiment_label(0.6) == Sentiment.POSITIVE


class _BadScorer:
    name = "bad"

    def score(self, texts):
        return {"oops": [0.0]}


def test_scorer_length_mismatch_is_an_error():
    with pytest.raises(ValueError, match="bad"):
        Moderator(scorers=[_BadScorer()]).classify_texts(["a", "b"])


def test_custom_keywords_are_reported():
    verdict = Moderator(keywords=["wi-fi", "boarding pass"]).classify_texts(
        ["No Wi-Fi and my boarding pass app froze"]
    )[0]
    assert verdict.keywords == ("wi fi", "boarding pass")


@pytest.mark.parametrize("text", CASES["confident_troll"])
def test_insults_at_the_brand_with_no_problem_are_confident_trolls(moderator, text):
    verdict = moderator.classify_texts([text])[0]
    assert verdict.category == Category.TROLL, verdict.explanation
    assert verdict.confidence >= 0.7  # the default policy ignores trolls from 0.7


def test_lone_derision_is_only_a_possible_troll(moderator):
    verdict = moderator.classify_texts(["@brand nobody asked"])[0]
    assert verdict.category == Category.TROLL
    assert verdict.confidence < 0.7


def test_solved_problem_told_as_thanks_is_praise_but_negated_resolution_is_not(moderator):
    solved, unsolved = moderator.classify_texts(
        [
            "Big thanks to @brand, they fixed my laptop in a day. Legends!",
            "@brand my laptop still isn't fixed after a week, useless",
        ]
    )
    assert solved.category == Category.PRAISE, solved.explanation
    assert solved.signals["resolved"] == 1.0
    assert unsolved.category == Category.COMPLAINT, unsolved.explanation
    assert unsolved.signals["resolved"] == 0.0


def test_question_mentioning_a_service_keyword_is_a_question(moderator):
    verdict = moderator.classify_texts(["@brand is delivery free if I order two?"])[0]
    assert verdict.category == Category.QUESTION
    assert "no problem described" in verdict.explanation


def test_troll_verdicts_never_carry_a_complaint_score_that_policies_read_as_a_real_problem() -> None:
    from moderation.classifier import TROLL_COMPLAINT_CEILING, Moderator

    verdicts = Moderator().classify_texts(
        ["@acme nobody cares about your stupid products, losers", "@acme you people are clowns, losers"]
    )
    assert [v.category.value for v in verdicts] == ["troll", "troll"]
    assert all(v.complaint <= TROLL_COMPLAINT_CEILING < 0.5 for v in verdicts)
