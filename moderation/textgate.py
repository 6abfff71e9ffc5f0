"""Cheap pre-filters for rule regexes: run a pattern only when one of its trigger words is present.

Python's `re` tries every alternative at every position, so a lexicon regex costs tens of
microseconds per text even when nothing matches. Tokenising once (`words_of`) and checking a
set intersection first skips the regex for most texts. A gate must never change a result:
`triggers` must contain at least one whole word of every possible match (words are runs of
[a-z0-9] in the lowercased text, matching the regexes' `\\b` boundaries), and `substrings`
cover matches that have no such word. Tests compare gated and ungated counts on a corpus.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

_WORDS = re.compile(r"[a-z0-9]+")


def normalise(text: str) -> str:
    """Lowercase a text and unify typographic apostrophes, as every rule regex expects."""
    return text.lower().replace("\u2019", "'").replace("\u2018", "'")


def words_of(lowered: str) -> frozenset[str]:
    """Return the distinct [a-z0-9]+ words of a lowercased text."""
    return frozenset(_WORDS.findall(lowered))


class GatedPattern:
    """A compiled regex that is only run when a trigger word or substring is present."""

    def __init__(
        self, pattern: re.Pattern[str], triggers: Iterable[str], substrings: Iterable[str] = ()
    ) -> None:
        self.pattern = pattern
        self.triggers = frozenset(triggers)
        self.substrings = tuple(substrings)

    def may_match(self, lowered: str, words: frozenset[str]) -> bool:
        """Return False only when the pattern certainly cannot match."""
        return not self.triggers.isdisjoint(words) or any(s in lowered for s in self.substrings)

    def count(self, lowered: str, words: frozenset[str]) -> int:
        """Count non-overlapping matches (0 without running the regex when the gate is closed)."""
        if not self.may_match(lowered, words):
            return 0
        return len(self.pattern.findall(lowered))


class GateSet:
    """Several gated patterns checked together: one set intersection opens only the rules that can match."""

    def __init__(self, gates: Sequence[GatedPattern]) -> None:
        self.gates = tuple(gates)
        index: dict[str, list[int]] = {}
        for position, gate in enumerate(self.gates):
            for trigger in gate.triggers:
                index.setdefault(trigger, []).append(position)
        self._index = {trigger: tuple(positions) for trigger, positions in index.items()}
        self._triggers = frozenset(index)
        self._by_substring = tuple((i, g.substrings) for i, g in enumerate(self.gates) if g.substrings)

    def counts(self, lowered: str, words: frozenset[str]) -> list[int]:
        """Return the match count of every pattern, in order (0 for patterns whose gate is closed)."""
        opened: set[int] = set()
        for word in self._triggers.intersection(words):
            opened.update(self._index[word])
        for position, substrings in self._by_substring:
            if position not in opened and any(s in lowered for s in substrings):
                opened.add(position)
        result = [0] * len(self.gates)
        for position in opened:
            result[position] = len(self.gates[position].pattern.findall(lowered))
        return result
