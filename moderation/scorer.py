"""The `Scorer` extension interface: a batched producer of named numeric signals."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable


@runtime_checkable
class Scorer(Protocol):
    """A batched scorer that turns texts into named numeric signals.

    Implementations wrap one model or rule set (VADER, a profanity model, keyword rules...)
    and are created once per process: construction may be slow (loading a model), scoring
    must not repeat that cost. The `Moderator` calls `score` once per batch with every text
    of the batch, because per-call overhead dominates when texts are scored one at a time.

    Attributes:
        name: short stable identifier, used in logs and explanations (e.g. "vader").

    Contract of `score(texts)`:
        - returns a mapping of signal name -> list of floats, each list exactly
          `len(texts)` long and aligned with `texts` (value i belongs to texts[i]);
        - signal names are unique across the scorers a `Moderator` uses; the classifier
          reads the names it knows ("sentiment_compound", "profanity", "insult",
          "complaint_cues", ...) and copies every signal into `Verdict.signals`;
        - it is deterministic and side-effect free: the same text scores the same whether
          alone or in a batch, so batching never changes a verdict;
        - texts are untrusted user input: never evaluate them, never log them wholesale;
        - an empty batch returns lists of length 0 (or an empty mapping).
    """

    name: str

    def score(self, texts: Sequence[str]) -> dict[str, list[float]]:
        """Score every text of the batch, returning signal name -> one value per text."""
        ...


def check_scores(scorer: Scorer, scores: dict[str, list[float]], expected: int) -> None:
    """Raise ValueError if a scorer returned a signal whose length does not match the batch."""
    for signal, values in scores.items():
        if len(values) != expected:
            raise ValueError(
                f"scorer {scorer.name!r} returned {len(values)} values for signal {signal!r}, "
                f"expected {expected}"
            )
