"""The decision for a message in a language the English lexicons do not cover.

The rule signals, VADER and the toxicity model read English: on a Polish or Chinese message
they see nothing, or worse, the one English swear word of a customer who wrote the rest in
their own language. So a non-English message is never a troll and its confidence stays low
(at most `NON_ENGLISH_CONFIDENCE`), which the default policy routes to a person. What the
verdict still offers the policy and the reviewer comes from cues that do not depend on the
language:
- spam: the rule scorer's spam cues (crypto, follower selling, "DM me for"...) together with a
  link: category "spam", still with low confidence;
- a complaint hint: an order or ticket number, an angry tone (repeated "!!"/"??", shouting,
  angry emoji, swearing), English complaint keywords or problem phrases, and a question mark
  raise the complaint score from `BASE_COMPLAINT` up to `COMPLAINT_CEILING`, below the 0.5 at
  which a policy treats a message as a complaint: a hint, never a claim;
- toxicity: the English profanity model reads German "die" as the English verb ("Danke für
  die schnelle Hilfe" scores 0.98), so without swearing that reads alike across languages
  (`_SWEARING`: "fuck", "idiot", "kurwa", "merde"...) the toxicity is capped at
  `TOXICITY_CEILING`: a policy's `min_toxicity` cannot hide a German thank-you;
- the explanation names the language, how sure the detector is, and the cues found.
The sentiment score stays VADER's (it reads emoji, which do not depend on the language).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import NamedTuple

from moderation.verdict import Category

NON_ENGLISH_CONFIDENCE = 0.3
"""Highest confidence of any verdict on a non-English message."""
SPAM_CUES_AT_LEAST = 0.6
"""Spam signal (see `moderation.rules.spam_score`) that, with a link, makes a non-English message spam."""
BASE_COMPLAINT = 0.25
"""Complaint score of a non-English message with no cue: unknown, neither yes nor no."""
COMPLAINT_CEILING = 0.45
"""Highest complaint score cues can give a non-English message (below the 0.5 complaint threshold)."""
TOXICITY_CEILING = 0.3
"""Highest toxicity of a non-English message without swearing from `_SWEARING`."""

_URL = re.compile(r"https?://\S+|www\.\S+", re.IGNORECASE)
# An order, ticket or tracking reference: a run of 5+ digits (not part of a decimal number),
# optionally after "#" or a short letter prefix ("AB-123456").
_ORDER_REFERENCE = re.compile(r"(?<![\d.,])(?:#|[A-Za-z]{1,4}-?)?\d{5,}(?![\d.,])")
_ANGRY_EMOJI = re.compile("[😡🤬😠👎💢😤😒🙄😞😩😫💩]")
# Swearing and insults written alike in many languages, or English swearing mixed into another
# language ("idiot" starts idiota, idioti, idiotami, Idioten...): word stems, then whole words.
_SWEARING = re.compile(
    r"(?<![^\W\d_])(?:fuck|f\*+ck|shit|bitch|cunt|asshole|arsehole|motherf|dickhead|bullshit|idiot|moron|"
    r"debil|kurw|spierdal|pierdol|chuj|mierd|cabr[oó]n|putain|connard|schei(?:ß|ss)|arschloch|cazz|"
    r"vaffancul|stronz|caralh)"
    r"|(?<![^\W\d_])(?:wtf|stfu|puta|puto|merde|porra|pula|muie)(?![^\W\d_])",
    re.IGNORECASE,
)
_QUESTION_MARKS = re.compile("[?\uff1f¿؟]")  # ASCII, fullwidth, Spanish, Arabic


class NonEnglishDecision(NamedTuple):
    """Category, confidence, complaint score, toxicity and reasons for one non-English message."""

    category: Category
    confidence: float
    complaint: float
    toxicity: float
    reasons: list[str]


def decide_non_english(
    text: str, signals: Mapping[str, float], language: str, language_confidence: float
) -> NonEnglishDecision:
    """Decide a message in `language` (not English) from language-independent cues only; never troll."""
    confidence = min(NON_ENGLISH_CONFIDENCE, language_confidence / 3)
    reasons = [f"language {language} ({language_confidence:.2f}): English lexicons do not apply"]
    swearing = _SWEARING.search(text) is not None
    toxicity = signals.get("toxicity", 0.0)
    if not swearing and toxicity > TOXICITY_CEILING:
        if toxicity >= 0.5:
            reasons.append(f"toxicity {toxicity:.2f} of the English model not trusted here")
        toxicity = TOXICITY_CEILING
    spam = signals.get("spam", 0.0)
    if spam >= SPAM_CUES_AT_LEAST and signals.get("urls", 0.0) >= 1:
        reasons.extend((f"spam cues {spam:.2f} with a link", "needs a human"))
        return NonEnglishDecision(Category.SPAM, confidence, BASE_COMPLAINT, toxicity, reasons)
    cues = complaint_cues(text, signals, swearing)
    complaint = min(COMPLAINT_CEILING, BASE_COMPLAINT + sum(weight for _, weight in cues))
    if cues:
        reasons.append(f"complaint hint {complaint:.2f}: " + ", ".join(name for name, _ in cues))
    reasons.append("needs a human")
    return NonEnglishDecision(Category.OTHER, confidence, complaint, toxicity, reasons)


def complaint_cues(
    text: str, signals: Mapping[str, float], swearing: bool | None = None
) -> list[tuple[str, float]]:
    """Return the language-independent complaint cues of a message, each with its weight.

    `swearing` says whether `_SWEARING` matches `text` (None: search it here).
    """
    if swearing is None:
        swearing = _SWEARING.search(text) is not None
    cues: list[tuple[str, float]] = []
    if _ORDER_REFERENCE.search(_URL.sub(" ", text)):
        cues.append(("order or ticket number", 0.1))
    if (
        swearing
        or signals.get("repeated_punct", 0.0) >= 1
        or signals.get("caps_ratio", 0.0) >= 0.5
        or _ANGRY_EMOJI.search(text)
    ):
        cues.append(("angry tone", 0.1))
    if signals.get("keyword_hits", 0.0) or signals.get("problem", 0.0):
        cues.append(("English complaint words", 0.1))
    if _QUESTION_MARKS.search(text):
        cues.append(("a question", 0.05))
    return cues
