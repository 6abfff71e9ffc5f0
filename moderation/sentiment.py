"""Sentiment signals from VADER, batched, with one analyzer per process."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from vaderSentiment.vaderSentiment import (
    BOOSTER_DICT,
    N_SCALAR,
    NEGATE,
    SPECIAL_CASES,
    SentimentIntensityAnalyzer,
    SentiText,
)

_NON_ASCII = re.compile(r"[^\x00-\x7f]")
# Idioms VADER misreads, as (a word every match holds, pattern, what VADER scores instead):
# "can't wait" is eagerness, read as a negated neutral word (but "can't wait any longer" is a
# complaint); "X is a joke" is contempt, read as the positive "joke".
_IDIOMS: tuple[tuple[str, re.Pattern[str], str], ...] = (
    (
        "wait",
        re.compile(
            r"\b(?:can['\u2019]?t|cannot|can\s+not)\s+wait\b(?!\s+(?:any|much)\s+longer|\s+forever|\s+any\s*more)",
            re.IGNORECASE,
        ),
        "am thrilled",
    ),
    (
        "joke",
        re.compile(
            r"\b(?:is|was|are|were|what)\s+(?:a|an)\s+(?:(?:complete|total|absolute|fucking|bloody|sick)\s+)?joke\b",
            re.IGNORECASE,
        ),
        "is a disgrace",
    ),
)


def rephrase_idioms(text: str) -> str:
    """Rewrite idioms VADER misreads into words it scores as meant ("can't wait" -> "am thrilled")."""
    lowered = text.lower()
    for word, pattern, replacement in _IDIOMS:
        if word in lowered:
            text = pattern.sub(replacement, text)
    return text


_NEGATE = frozenset(NEGATE)


def _negated_word(word: str) -> bool:
    """VADER's `negated([word])` for one lowercased word."""
    return word in _NEGATE or "n't" in word


class FastSentimentIntensityAnalyzer(SentimentIntensityAnalyzer):
    """VADER with a faster emoji pass; `polarity_scores` returns exactly what stock VADER returns.

    Stock VADER rebuilds every text character by character to replace emojis with their
    descriptions, which is about a third of its run time. Here ASCII texts skip that pass
    (emojis are never ASCII) and other texts only visit their non-ASCII characters, with the
    same spacing rule: a description is preceded by a space unless it starts the text or follows
    a space. The rest of the method is VADER 3.3.2's own algorithm, unchanged.
    """

    def describe_emojis(self, text: str) -> str:
        """Replace emojis with VADER's textual descriptions, as stock VADER does, and strip."""
        if text.isascii():
            return text.strip()
        emojis = self.emojis
        parts: list[str] = []
        done = 0
        for match in _NON_ASCII.finditer(text):
            description = emojis.get(match.group())
            if description is None:
                continue
            start = match.start()
            parts.append(text[done:start])
            if start != 0 and text[start - 1] != " ":
                parts.append(" ")
            parts.append(description)
            done = start + 1
        if not parts:
            return text.strip()
        parts.append(text[done:])
        return "".join(parts).strip()

    @staticmethod
    def _negation_check(valence: float, words_and_emoticons: list[str], start_i: int, i: int) -> float:
        """VADER's negation check, lowercasing only the words it reads (stock lowercases all, per word)."""
        words = words_and_emoticons
        if start_i == 0 and _negated_word(str(words[i - 1]).lower()):
            valence = valence * N_SCALAR
        if start_i == 1:
            before2, before1 = str(words[i - 2]).lower(), str(words[i - 1]).lower()
            if before2 == "never" and (before1 == "so" or before1 == "this"):
                valence = valence * 1.25
            elif before2 == "without" and before1 == "doubt":
                pass
            elif _negated_word(before2):
                valence = valence * N_SCALAR
        if start_i == 2:
            before3 = str(words[i - 3]).lower()
            before2, before1 = str(words[i - 2]).lower(), str(words[i - 1]).lower()
            if (before3 == "never" and (before2 == "so" or before2 == "this")) or (
                before1 == "so" or before1 == "this"
            ):
                valence = valence * 1.25
            elif before3 == "without" and (before2 == "doubt" or before1 == "doubt"):
                pass
            elif _negated_word(before3):
                valence = valence * N_SCALAR
        return valence

    @staticmethod
    def _special_idioms_check(valence: float, words_and_emoticons: list[str], i: int) -> float:
        """VADER's idiom check, lowercasing only the (up to six) words around position i."""
        words = words_and_emoticons
        w0, w1, w2, w3 = (str(words[k]).lower() for k in (i, i - 1, i - 2, i - 3))
        twoone = f"{w2} {w1}"
        threetwoone = f"{w3} {w2} {w1}"
        threetwo = f"{w3} {w2}"
        for seq in (f"{w1} {w0}", f"{w2} {w1} {w0}", twoone, threetwoone, threetwo):
            if seq in SPECIAL_CASES:
                valence = SPECIAL_CASES[seq]
                break
        last = len(words) - 1
        if last > i:
            after1 = str(words[i + 1]).lower()
            zeroone = f"{w0} {after1}"
            if zeroone in SPECIAL_CASES:
                valence = SPECIAL_CASES[zeroone]
            if last > i + 1:
                zeroonetwo = f"{w0} {after1} {str(words[i + 2]).lower()}"
                if zeroonetwo in SPECIAL_CASES:
                    valence = SPECIAL_CASES[zeroonetwo]
        for n_gram in (threetwoone, threetwo, twoone):
            if n_gram in BOOSTER_DICT:
                valence = valence + BOOSTER_DICT[n_gram]
        return valence

    def polarity_scores(self, text: str) -> dict[str, float]:
        """Return VADER's neg/neu/pos/compound scores for one text."""
        text = self.describe_emojis(text)
        sentitext = SentiText(text)
        sentiments: list[Any] = []
        words_and_emoticons = sentitext.words_and_emoticons
        last = len(words_and_emoticons) - 1
        for i, item in enumerate(words_and_emoticons):
            lowered = item.lower()
            if lowered in BOOSTER_DICT or (
                i < last and lowered == "kind" and words_and_emoticons[i + 1].lower() == "of"
            ):
                sentiments.append(0)
                continue
            sentiments = self.sentiment_valence(0, sentitext, item, i, sentiments)
        sentiments = self._but_check(words_and_emoticons, sentiments)
        scores: dict[str, float] = self.score_valence(sentiments, text)
        return scores


@lru_cache(maxsize=1)
def shared_analyzer() -> FastSentimentIntensityAnalyzer:
    """Return the process-wide VADER analyzer (its lexicons load once)."""
    return FastSentimentIntensityAnalyzer()


class VaderScorer:
    """Scores sentiment with VADER: compound (-1..1) and the positive/negative proportions.

    Idioms VADER misreads are rephrased first (see `rephrase_idioms`).
    """

    name = "vader"

    def __init__(self, analyzer: SentimentIntensityAnalyzer | None = None) -> None:
        self._analyzer = analyzer if analyzer is not None else shared_analyzer()

    def score(self, texts: Sequence[str]) -> dict[str, list[float]]:
        """Score a batch; identical texts in the batch are scored once."""
        seen: dict[str, dict[str, float]] = {}
        compound: list[float] = []
        positive: list[float] = []
        negative: list[float] = []
        for text in texts:
            result = seen.get(text)
            if result is None:
                result = seen[text] = self._analyzer.polarity_scores(rephrase_idioms(text))
            compound.append(float(result["compound"]))
            positive.append(float(result["pos"]))
            negative.append(float(result["neg"]))
        return {"sentiment_compound": compound, "sentiment_pos": positive, "sentiment_neg": negative}
