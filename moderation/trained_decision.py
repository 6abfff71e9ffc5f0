"""How a verdict uses the trained models' signals (see `moderation.trained`) when they are present.

Kept apart from `moderation.trained` so the classifier can import it without numpy.
"""

from __future__ import annotations

from collections.abc import Mapping

from moderation.verdict import Sentiment

SENTIMENT_SIGNALS: tuple[tuple[str, Sentiment], ...] = (
    ("trained_sentiment_negative", Sentiment.NEGATIVE),
    ("trained_sentiment_neutral", Sentiment.NEUTRAL),
    ("trained_sentiment_positive", Sentiment.POSITIVE),
)


def trained_overrides(
    signals: Mapping[str, float], complaint: float, toxicity: float, sentiment: Sentiment
) -> tuple[float, float, Sentiment, list[str]]:
    """Replace the complaint score, toxicity and sentiment label by the trained models' where present.

    Returns (complaint, toxicity, sentiment, notes); each note names the model that decided a
    value ("trained complaint model 0.91"), for the verdict's explanation. The trained complaint
    and offensive probabilities are already shifted so that their decision threshold is 0.5.
    """
    notes: list[str] = []
    trained_complaint = signals.get("trained_complaint")
    if trained_complaint is not None:
        complaint = trained_complaint
        notes.append(f"trained complaint model {trained_complaint:.2f}")
    trained_offensive = signals.get("trained_offensive")
    if trained_offensive is not None:
        toxicity = trained_offensive
        notes.append(f"trained offensive model {trained_offensive:.2f}")
    if all(name in signals for name, _ in SENTIMENT_SIGNALS):
        name, label = max(SENTIMENT_SIGNALS, key=lambda pair: signals[pair[0]])
        sentiment = label
        notes.append(f"trained sentiment model {label.value} {signals[name]:.2f}")
    return complaint, toxicity, sentiment, notes
