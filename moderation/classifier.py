"""The default moderator: batched scoring, then an explainable rule-based decision per message.

Decision order for a message in English (or undetermined language):
1. spam: `spam >= 0.6` and no real problem;
2. troll: an insult aimed at a person, derision (`insult >= 1`, or mockery) or condescension
   aimed at customers or staff (`condescension >= 1`, the polite troll) and *no real
   problem* (no problem phrase, and not a complaint keyword with `complaint >= 0.5`). Profanity alone never makes a troll: an
   angry customer with a real problem is a complaint, whatever their language;
   Its confidence (`troll_confidence`) reaches 0.7, where the default policy ignores trolls,
   only for clear abuse: an insult aimed at people, or derision with laughter or a second cue;
3. question with no problem described (`plain_question`), whatever the complaint score;
4. complaint: `complaint >= 0.5` (see `complaint_probability`; a solved problem told as
   thanks, `resolved`, counts against it);
5. question: a "?" or an interrogative opening;
6. praise: praise cues or a solved problem, with positive sentiment (praise cues with a solved
   problem need only a tone that is not negative), and no sarcasm;
7. otherwise other.
With trained models (`Moderator(trained=load_models(dir))`, see `moderation.trained`), English-like
messages take their complaint score, toxicity and sentiment label from the models
(`moderation.trained_decision`), and a trained complaint score >= 0.5 is a real problem by itself
(no spam, no troll) and outranks the plain-question rule 3; the order is otherwise the same.
Any other language is decided by `moderation.non_english`: never troll, confidence <= 0.3
(the lexicons are English, and policy routes low-confidence verdicts to humans), "spam" only
for spam cues with a link, a complaint score under 0.5 from language-independent cues, and
the English toxicity model's score capped unless there is swearing it can read.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from moderation.condescension import condescension_reason
from moderation.language import detect_languages, preload_detector
from moderation.non_english import decide_non_english
from moderation.rules import DEFAULT_KEYWORDS, KeywordMatcher, RuleScorer
from moderation.sarcasm import sarcasm_reason
from moderation.scorer import Scorer, check_scores
from moderation.sentiment import VaderScorer
from moderation.toxicity import ToxicityScorer
from moderation.trained_decision import trained_overrides
from moderation.verdict import Category, Sentiment, Verdict

if TYPE_CHECKING:
    from moderation.trained import TrainedModels

MODEL_NAME = "default-v1"

# VADER compound thresholds for the sentiment label, tuned for macro-recall on SemEval-2017 dev
# (the library's own +-0.05 under-calls neutral on tweets).
NEGATIVE_AT_OR_BELOW = -0.1
POSITIVE_AT_OR_ABOVE = 0.35
# A stated problem ("never arrived") with no positive words reads negative even when VADER sees none.
PROBLEM_NEUTRAL_CEILING = 0.05

SPAM_THRESHOLD = 0.6
COMPLAINT_THRESHOLD = 0.5
ENGLISH_LIKE = frozenset({"en", "und"})
# Complaint keywords that name a service rather than a problem: a question that only mentions
# these ("is there a warranty abroad?", "can I cancel my order?") is a question.
NEUTRAL_KEYWORDS = frozenset(
    {"order", "delivery", "package", "parcel", "return", "cancel", "support", "customer service", "warranty"}
)

# Complaint model: logistic over rule signals, weights set by hand (rounded from a look at
# the complaints dev data, not fitted): z = bias + sum(weight * min(signal, cap)).
_COMPLAINT_BIAS = -1.6
_COMPLAINT_WEIGHTS: tuple[tuple[str, float, float], ...] = (
    # (signal, weight, cap)
    ("problem", 1.5, 3.0),
    ("keyword_hits", 1.0, 3.0),
    ("negation", 0.8, 3.0),
    ("grievance", 1.0, 3.0),
    ("question", 0.5, 1.0),
    ("sarcasm", 0.8, 1.0),
    ("praise", -0.5, 3.0),
    ("resolved", -1.5, 2.0),
    ("mentions", 0.5, 1.0),
    ("urls", -0.6, 1.0),
    ("first_person", 0.2, 1.0),
)
_NEGATIVE_TONE_WEIGHT = 1.0  # times -compound when the compound is negative
_POSITIVE_TONE_WEIGHT = -0.9  # times compound when positive (sarcasm cancels it)


@dataclass(frozen=True, slots=True)
class ModerationInput:
    """One text to classify, with the platform's language hint when it gave one."""

    text: str
    language_hint: str | None = None


WARM_UP_TEXTS: tuple[str, ...] = (
    "@brand my order never arrived and nobody answers, this is the third time I ask!!",
    "Thanks so much, the new app update is great :)",
    "how do I change the delivery address on my account?",
    "you are all useless idiots lol",
    "Mi pedido no ha llegado todavía y nadie responde a mis correos",
    "Meine Bestellung ist immer noch nicht angekommen, bitte helfen Sie mir",
    "Mon colis n'est jamais arrivé et le service client ne répond pas",
    "Мой заказ так и не пришёл, поддержка молчит уже неделю",
    "我的订单还没有到",
)
"""Texts `Moderator.warm_up` classifies: English of each kind and other languages and scripts."""

TROLL_COMPLAINT_CEILING = 0.45
"""Highest complaint score a troll verdict may carry (below the usual 0.5 complaint threshold)."""


@lru_cache(maxsize=8)
def default_scorers(keywords: tuple[str, ...] = DEFAULT_KEYWORDS) -> tuple[Scorer, ...]:
    """Return the process-wide default scorers (VADER, toxicity, rules); models load once."""
    return (VaderScorer(), ToxicityScorer(), RuleScorer(keywords))


def sentiment_label(
    compound: float, problem: float = 0.0, sarcasm: float = 0.0, solved: float = 0.0
) -> Sentiment:
    """Map a VADER compound score to a label; a stated problem makes a text without positive words negative.

    Sarcasm over a harm ("thanks for breaking my phone") is negative whatever VADER says; a solved
    problem told with praise (`solved`: "it died on Friday, replaced by Monday. Fantastic service")
    is positive unless VADER reads it as negative.
    """
    if compound <= NEGATIVE_AT_OR_BELOW or sarcasm:
        return Sentiment.NEGATIVE
    if compound >= POSITIVE_AT_OR_ABOVE or solved:
        return Sentiment.POSITIVE
    if problem > 0 and compound < PROBLEM_NEUTRAL_CEILING:
        return Sentiment.NEGATIVE
    return Sentiment.NEUTRAL


def complaint_probability(signals: Mapping[str, float]) -> float:
    """Return the complaint score 0..1 from rule and sentiment signals (a hand-set logistic)."""
    z = _COMPLAINT_BIAS
    for name, weight, cap in _COMPLAINT_WEIGHTS:
        z += weight * min(signals.get(name, 0.0), cap)
    compound = signals.get("sentiment_compound", 0.0)
    if compound < 0:
        z += _NEGATIVE_TONE_WEIGHT * -compound
    elif not signals.get("sarcasm", 0.0):
        z += _POSITIVE_TONE_WEIGHT * compound
    return 1.0 / (1.0 + math.exp(-z))


class Moderator:
    """Classifies batches of messages into explainable verdicts; create once per process and reuse."""

    model = MODEL_NAME

    def __init__(
        self,
        keywords: Sequence[str] = DEFAULT_KEYWORDS,
        scorers: Sequence[Scorer] | None = None,
        trained: TrainedModels | None = None,
    ) -> None:
        self._keywords = KeywordMatcher(keywords)
        self._keywords_counted = scorers is None
        self._scorers: tuple[Scorer, ...] = (
            tuple(scorers) if scorers is not None else default_scorers(tuple(keywords))
        )
        # Trained models (`moderation.trained`) wrap the scorers, which give them their dense signals.
        self._trained = trained is not None
        if trained is not None:
            from moderation.trained import TrainedScorer

            self._scorers = (TrainedScorer(trained, self._scorers),)
            self.model = trained.name

    def warm_up(self) -> None:
        """Classify a few sample texts so that every lazily loaded model is loaded now.

        A worker calls this before it reports ready, so its first real batch is not slowed
        by loading models (the language detector loads its models on first use).
        """
        preload_detector()
        self.classify([ModerationInput(text) for text in WARM_UP_TEXTS])

    def classify_texts(self, texts: Sequence[str]) -> list[Verdict]:
        """Classify plain texts (no language hints)."""
        return self.classify([ModerationInput(text) for text in texts])

    def classify(self, items: Sequence[ModerationInput]) -> list[Verdict]:
        """Classify a batch; verdicts align with `items` and equal per-item classification."""
        if not items:
            return []
        texts = [item.text for item in items]
        languages = detect_languages(texts, [item.language_hint for item in items])
        columns: dict[str, list[float]] = {}
        for scorer in self._scorers:
            scores = scorer.score(texts)
            check_scores(scorer, scores, len(texts))
            for name, values in scores.items():
                if name in columns:
                    raise ValueError(f"signal {name!r} is produced by more than one scorer")
                columns[name] = values
        names = tuple(columns)
        rows = zip(*(map(float, values) for values in columns.values()), strict=True) if names else None
        verdicts = []
        for text, (language, language_confidence) in zip(texts, languages, strict=True):
            signals = dict(zip(names, next(rows), strict=True)) if rows is not None else {}
            verdicts.append(self._decide(text, signals, language, language_confidence))
        return verdicts

    def _decide(
        self, text: str, signals: dict[str, float], language: str, language_confidence: float
    ) -> Verdict:
        """Turn one message's signals into a verdict with an explanation."""
        compound = signals.get("sentiment_compound", 0.0)
        toxicity = signals.get("toxicity", 0.0)
        # With the default scorers the rule scorer already counted these keywords: skip the
        # search when it found none.
        keywords = (
            () if self._keywords_counted and not signals.get("keyword_hits") else self._keywords.find(text)
        )
        signals["language_confidence"] = language_confidence
        complaint = complaint_probability(signals)
        sentiment = sentiment_label(
            compound,
            signals.get("problem", 0.0),
            signals.get("sarcasm", 0.0),
            signals.get("resolved", 0.0) if signals.get("praise") else 0.0,
        )
        trained_notes: list[str] = []
        if self._trained and language in ENGLISH_LIKE:
            complaint, toxicity, sentiment, trained_notes = trained_overrides(
                signals, complaint, toxicity, sentiment
            )
        if language not in ENGLISH_LIKE:
            category, confidence, complaint, toxicity, reasons = decide_non_english(
                text, signals, language, language_confidence
            )
        else:
            category, confidence, reasons = _categorise(signals, complaint, keywords, text)
            if category is Category.TROLL:
                # A troll verdict means "no real problem": the complaint score must say so too,
                # or policies that guard angry customers by complaint score would contradict it.
                complaint = min(complaint, TROLL_COMPLAINT_CEILING)
            if language == "und":
                confidence = min(confidence, 0.4)
                reasons.append("language undetermined")
        parts = [f"{category.value}: {sentiment.value} sentiment {compound:+.2f}"]
        if keywords:
            parts.append("keywords: " + ", ".join(keywords))
        parts.extend(reasons)
        parts.extend(trained_notes)
        return Verdict(
            category=category,
            sentiment=sentiment,
            sentiment_score=round(compound, 4),
            toxicity=round(toxicity, 4),
            complaint=round(complaint, 4),
            language=language,
            confidence=round(confidence, 3),
            explanation="; ".join(parts),
            keywords=keywords,
            signals=signals,
            model=self.model,
        )


def troll_confidence(signals: Mapping[str, float]) -> float:
    """Confidence 0.3..0.95 that a message with aimed abuse and no real problem is a troll.

    Grows with the strength of the abuse (`insult + mockery + condescension / 2`, capped at 1)
    and with profanity on top of it; complaint vocabulary without a stated problem (keywords) and a
    question lower it, as they hint at a customer who is only venting.
    """
    strength = min(
        1.0, signals.get("insult", 0.0) + signals.get("mockery", 0.0) + signals.get("condescension", 0.0) / 2
    )
    confidence = 0.4 + 0.5 * strength
    if signals.get("profanity", 0.0) >= 0.5:
        confidence += 0.05
    confidence -= 0.1 * min(signals.get("keyword_hits", 0.0), 2.0) + 0.1 * signals.get("question", 0.0)
    return min(0.95, max(0.3, confidence))


def plain_question(signals: Mapping[str, float], keywords: Sequence[str] = ()) -> bool:
    """Return True for a question that describes no problem.

    That is: no problem phrase, grievance, negation, sarcasm, repeated "!?" or shouting, a tone
    that is not negative, and only neutral service keywords ("order", "warranty"; see
    `NEUTRAL_KEYWORDS`) among the complaint keywords found.
    """
    return bool(
        signals.get("question")
        and not signals.get("problem")
        and not signals.get("grievance")
        and not signals.get("negation")
        and not signals.get("sarcasm")
        and not signals.get("repeated_punct")
        and signals.get("caps_ratio", 0.0) < 0.3
        and signals.get("sentiment_compound", 0.0) > NEGATIVE_AT_OR_BELOW
        and all(keyword in NEUTRAL_KEYWORDS for keyword in keywords)
    )


def _categorise(
    signals: Mapping[str, float], complaint: float, keywords: Sequence[str] = (), text: str = ""
) -> tuple[Category, float, list[str]]:
    """Apply the decision order to an English-like message: (category, confidence, reasons).

    `text` is only read to name the evidence of sarcasm and condescension in the reasons.
    """
    reasons: list[str] = []
    insult = signals.get("insult", 0.0)
    mockery = signals.get("mockery", 0.0)
    profanity = signals.get("profanity", 0.0)
    spam = signals.get("spam", 0.0)
    problem = signals.get("problem", 0.0)
    # A trained complaint model (`trained_complaint`) is trusted on its own to say there is a problem.
    model_says_complaint = "trained_complaint" in signals and complaint >= COMPLAINT_THRESHOLD
    real_problem = (
        problem > 0
        or (signals.get("keyword_hits", 0.0) > 0 and complaint >= COMPLAINT_THRESHOLD)
        or model_says_complaint
    )
    abuse = insult >= 1.0 or (insult > 0 and mockery > 0) or mockery >= 0.5
    condescension = signals.get("condescension", 0.0) >= 1.0
    aimed = abuse or condescension
    if abuse:
        reasons.append("insult aimed at a person" if insult >= 1.0 else "derision or insults")
    if condescension:
        reasons.append(condescension_reason(text))
    if not aimed and profanity >= 0.5:
        reasons.append("profanity present but no insult aimed at a person")
    if problem:
        reasons.append(f"problem phrases {int(problem)}")
    if signals.get("sarcasm"):
        reasons.append(sarcasm_reason(text))

    if spam >= SPAM_THRESHOLD and not real_problem:
        return Category.SPAM, spam, [f"spam cues {spam:.2f}", *reasons]
    if aimed and not real_problem:
        return Category.TROLL, troll_confidence(signals), [*reasons, "no real problem"]
    if plain_question(signals, keywords) and not model_says_complaint:
        return (
            Category.QUESTION,
            0.5 + 0.5 * (1.0 - complaint),
            [*reasons, "a question, no problem described"],
        )
    if complaint >= COMPLAINT_THRESHOLD:
        if aimed:
            reasons.append("angry but with a real problem: complaint, not troll")
        return Category.COMPLAINT, complaint, [f"complaint score {complaint:.2f}", *reasons]
    if signals.get("question"):
        return Category.QUESTION, 0.5 + 0.5 * (1.0 - complaint), reasons
    compound = signals.get("sentiment_compound", 0.0)
    solved = signals.get("resolved", 0.0) > 0 and compound > NEGATIVE_AT_OR_BELOW
    praised = signals.get("praise") and (compound > 0.2 or solved)
    if (praised or (solved and compound > 0.2)) and not signals.get("sarcasm"):
        return Category.PRAISE, min(1.0, 0.5 + signals.get("sentiment_compound", 0.0) / 2), reasons
    return Category.OTHER, 0.5 + (COMPLAINT_THRESHOLD - complaint), reasons
