"""Batched scoring as the processing stage uses it: a verdict handle per submitted batch."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from moderation.classifier import ModerationInput, Moderator
from moderation.verdict import Verdict

_WARM_UP_TEXTS = (
    "@brand my order never arrived and nobody answers, I want a refund",
    "@brand does it work with 110V?",
    "@brand love it, best purchase this year!",
)


class PendingVerdicts(Protocol):
    """Verdicts that may still be being computed."""

    def result(self) -> list[Verdict]:
        """Wait for and return the verdicts, in input order."""
        ...


class ReadyVerdicts:
    """Verdicts computed synchronously."""

    def __init__(self, verdicts: list[Verdict]) -> None:
        self._verdicts = verdicts

    def result(self) -> list[Verdict]:
        """Return the verdicts."""
        return self._verdicts


class InlineModerator:
    """Scores in the calling process; `submit` computes the whole batch at once."""

    def __init__(self, moderator: Moderator | None = None) -> None:
        self.moderator = moderator or Moderator()

    def warm_up(self) -> None:
        """Load every model now, so the first real batch pays no start-up cost."""
        self.moderator.classify([ModerationInput(text) for text in _WARM_UP_TEXTS])

    def submit(self, items: Sequence[ModerationInput]) -> PendingVerdicts:
        """Score a batch now."""
        return ReadyVerdicts(self.moderator.classify(items))

    def close(self) -> None:
        """Nothing to release."""
