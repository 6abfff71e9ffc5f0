"""The moderation verdict: what tactful concluded about one message, and why."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Category(StrEnum):
    """What kind of message this is, from the brand's point of view."""

    COMPLAINT = "complaint"
    QUESTION = "question"
    PRAISE = "praise"
    TROLL = "troll"
    SPAM = "spam"
    OTHER = "other"


class Sentiment(StrEnum):
    """Overall tone of a message."""

    NEGATIVE = "negative"
    NEUTRAL = "neutral"
    POSITIVE = "positive"


@dataclass(frozen=True, slots=True)
class Verdict:
    """An explainable classification of one message.

    Scores are in 0..1 except `sentiment_score` (VADER compound, -1..1). `confidence` is
    how sure the classifier is of `category`; it is low for languages the models do not
    cover, which the policy routes to humans.
    """

    category: Category
    sentiment: Sentiment
    sentiment_score: float
    toxicity: float
    complaint: float
    language: str
    confidence: float
    explanation: str
    keywords: tuple[str, ...] = ()
    signals: dict[str, float] = field(default_factory=dict)
    model: str = "default"
