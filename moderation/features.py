"""Text features for the trained models: word and character n-grams, in plain Python and numpy.

The same code builds the features when a model is trained (`moderation.training`, which hands
them to scikit-learn) and when it is used (`moderation.trained`), so the two always agree, and
using a model never imports scikit-learn (about a second per process).

A text is normalised (lowercased, typographic apostrophes unified, links -> "url", @mentions ->
"@user", digits -> "0", runs of 4+ equal word characters cut to 3: "soooo" -> "sooo", "12345" ->
"000") and split into tokens: words
(`[#@]?\\w+('\\w+)*`) and single other characters (punctuation, emoji). With negation marking
(`FeatureParams.negation`, the default since model format 2) every word after a negator ("not",
"never", "no", "without", any "...n't", ...) up to the next `. , : ; ! ?` gets the suffix "_neg"
("i don't like it, but" -> "i", "don't", "like_neg", "it_neg", ",", "but"), as in Pang, Lee &
Vaithyanathan (2002). Two blocks of features:
- word n-grams over all tokens, named "w:<gram>" ("w:not working_neg");
- character n-grams inside each word (without a "_neg" suffix: "like_neg" gives the n-grams of
  "like"), padded with a space at both ends as scikit-learn's "char_wb" does, named "c:<gram>"
  ("c: wor").
A feature's value is its count in the text divided by the square root of the number of n-grams of
its block in the text (known to the vocabulary or not), so it does not depend on the vocabulary:
features of several tasks can share one index space. Only n-grams in the vocabulary are kept.
"""

from __future__ import annotations

import itertools
import math
import re
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

_URL = re.compile(r"https?://\S+|www\.\S+")
_MENTION = re.compile(r"@\w+")
_DIGIT = re.compile(r"\d")
_ELONGATED = re.compile(r"(\w)\1{3,}")
_TOKEN = re.compile(r"[#@]?\w+(?:'\w+)*|[^\w\s]")
NEGATION_SUFFIX = "_neg"
# Tokens that open a negation scope (apostrophes removed first), and the ones that close it.
_NEGATORS = frozenset(
    [
        "not",
        "no",
        "never",
        "none",
        "nobody",
        "nothing",
        "nowhere",
        "neither",
        "nor",
        "nope",
        "without",
        "cannot",
        "cant",
        "aint",
        "dont",
        "doesnt",
        "didnt",
        "isnt",
        "wasnt",
        "arent",
        "werent",
        "wont",
        "wouldnt",
        "shouldnt",
        "couldnt",
        "havent",
        "hasnt",
        "hadnt",
    ]
)
_CLAUSE_END = frozenset(".,:;!?")
_MAX_N = 8
WORD_PREFIX = "w:"
CHAR_PREFIX = "c:"
# Words whose character n-grams are remembered between batches (a worker runs for days).
_CACHE_LIMIT = 200_000


@dataclass(frozen=True, slots=True)
class FeatureParams:
    """Which n-grams a featurizer produces: inclusive (min, max) lengths; (0, 0) turns a block off.

    `negation` marks the words in a negation scope (see the module docstring).
    """

    word_ngrams: tuple[int, int] = (1, 2)
    char_ngrams: tuple[int, int] = (2, 5)
    negation: bool = True

    def __post_init__(self) -> None:
        for name, (low, high) in (("word_ngrams", self.word_ngrams), ("char_ngrams", self.char_ngrams)):
            if (low, high) != (0, 0) and not 1 <= low <= high <= _MAX_N:
                raise ValueError(f"{name} must be (0, 0) or 1 <= min <= max <= {_MAX_N}, got {(low, high)}")

    def to_json(self) -> dict[str, Any]:
        """Return the parameters as a JSON-ready object."""
        return {
            "word_ngrams": list(self.word_ngrams),
            "char_ngrams": list(self.char_ngrams),
            "negation": self.negation,
        }

    @classmethod
    def from_json(cls, data: Any) -> FeatureParams:
        """Parse `to_json` output; raise ValueError naming the field that is wrong."""
        if not isinstance(data, dict):
            raise ValueError("must be an object")
        unknown = set(data) - {"word_ngrams", "char_ngrams", "negation"}
        if unknown:
            raise ValueError(f"unknown field {sorted(unknown)[0]!r}")
        negation = data.get("negation")
        if not isinstance(negation, bool):
            raise ValueError("negation must be true or false")
        ranges: dict[str, tuple[int, int]] = {}
        for name in ("word_ngrams", "char_ngrams"):
            value = data.get(name)
            if (
                not isinstance(value, list)
                or len(value) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
            ):
                raise ValueError(f"{name} must be a list of two integers")
            ranges[name] = (value[0], value[1])
        try:
            return cls(ranges["word_ngrams"], ranges["char_ngrams"], negation)
        except ValueError as exc:
            raise ValueError(str(exc)) from None


@dataclass(frozen=True, slots=True)
class SparseRows:
    """A batch of feature rows in CSR layout: row i is `indices/values[indptr[i]:indptr[i+1]]`.

    An index may repeat within a row; repeated entries add up.
    """

    indptr: npt.NDArray[np.int64]
    indices: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]

    @property
    def rows(self) -> int:
        """Number of rows."""
        return len(self.indptr) - 1


def tokens(text: str, negation: bool = False) -> list[str]:
    """Normalise a text and split it into tokens, marking negation scopes if asked (see the module docstring)."""
    lowered = text.lower().replace("\u2019", "'").replace("\u2018", "'")
    lowered = _MENTION.sub("@user", _URL.sub(" url ", lowered))
    lowered = _ELONGATED.sub(r"\1\1\1", _DIGIT.sub("0", lowered))
    found: list[str] = _TOKEN.findall(lowered)
    return _mark_negation(found) if negation else found


def _mark_negation(toks: list[str]) -> list[str]:
    """Suffix "_neg" to the words (starting with a letter or digit) after a negator, up to a clause end."""
    marked: list[str] = []
    negated = False
    for token in toks:
        if token in _CLAUSE_END:
            negated = False
        elif negated and token[0].isalnum():
            token += NEGATION_SUFFIX
        elif token.endswith("n't") or token.replace("'", "") in _NEGATORS:
            negated = True
        marked.append(token)
    return marked


def _char_word(token: str, negation: bool) -> str:
    """The part of a word token its character n-grams are taken from (no #/@, no negation suffix)."""
    word = token.lstrip("#@")
    if negation and word.endswith(NEGATION_SUFFIX):
        word = word[: -len(NEGATION_SUFFIX)]
    return word


def _word_grams(toks: Sequence[str], low: int, high: int) -> Iterator[str]:
    """Word n-grams of `toks`, named with the word prefix."""
    for n in range(low, high + 1):
        for start in range(len(toks) - n + 1):
            yield WORD_PREFIX + " ".join(toks[start : start + n])


def _char_grams(word: str, low: int, high: int) -> list[str]:
    """Character n-grams of one padded word (as `_char_word` gives it), named with the char prefix."""
    padded = f" {word} "
    size = len(padded)
    return [CHAR_PREFIX + padded[i : i + n] for n in range(low, high + 1) for i in range(size - n + 1)]


def _is_word(token: str) -> bool:
    """True for word tokens (the ones that get character n-grams)."""
    return token[-1].isalnum() or token[-1] == "_"


def analyze(text: str, params: FeatureParams) -> list[str]:
    """Every feature name of a text, with repeats (used to build a vocabulary)."""
    toks = tokens(text, params.negation)
    names: list[str] = []
    if params.word_ngrams != (0, 0):
        names.extend(_word_grams(toks, *params.word_ngrams))
    if params.char_ngrams != (0, 0):
        low, high = params.char_ngrams
        for token in toks:
            if _is_word(token):
                names.extend(_char_grams(_char_word(token, params.negation), low, high))
    return names


def build_vocabulary(texts: Iterable[str], params: FeatureParams, min_df: int = 2) -> list[str]:
    """Return the sorted feature names found in at least `min_df` texts."""
    document_frequency: Counter[str] = Counter()
    for text in texts:
        document_frequency.update(set(analyze(text, params)))
    return sorted(name for name, count in document_frequency.items() if count >= min_df)


class Featurizer:
    """Turns texts into `SparseRows` over a fixed vocabulary; reuse one per process."""

    def __init__(self, params: FeatureParams, vocabulary: Sequence[str]) -> None:
        self.params = params
        self.vocabulary = tuple(vocabulary)
        self._index: dict[str, int] = {name: i for i, name in enumerate(self.vocabulary)}
        if len(self._index) != len(self.vocabulary):
            raise ValueError("vocabulary has repeated feature names")
        # word -> (indices of its known character n-grams, number of its character n-grams)
        self._char_cache: dict[str, tuple[list[int], int]] = {}

    @property
    def index(self) -> Mapping[str, int]:
        """Feature name -> column."""
        return self._index

    @property
    def size(self) -> int:
        """Number of features (columns)."""
        return len(self.vocabulary)

    def transform(self, texts: Sequence[str]) -> SparseRows:
        """Feature rows for a batch of texts."""
        index = self._index
        word_low, word_high = self.params.word_ngrams
        char_low, char_high = self.params.char_ngrams
        use_words = self.params.word_ngrams != (0, 0)
        use_chars = self.params.char_ngrams != (0, 0)
        flat: list[int] = []
        # Per text and block: how many known entries were appended, and the block's scale.
        lengths: list[int] = []
        scales: list[float] = []
        for text in texts:
            toks = tokens(text, self.params.negation)
            if use_words:
                start = len(flat)
                total = 0
                for name in _word_grams(toks, word_low, word_high):
                    total += 1
                    found = index.get(name)
                    if found is not None:
                        flat.append(found)
                lengths.append(len(flat) - start)
                scales.append(1.0 / math.sqrt(total) if total else 0.0)
            if use_chars:
                start = len(flat)
                total = 0
                for token in toks:
                    if not _is_word(token):
                        continue
                    known, count = self._chars_of(token, char_low, char_high)
                    flat.extend(known)
                    total += count
                lengths.append(len(flat) - start)
                scales.append(1.0 / math.sqrt(total) if total else 0.0)
        blocks = int(use_words) + int(use_chars)
        per_text = np.asarray(lengths, dtype=np.int64).reshape(len(texts), blocks).sum(axis=1)
        indptr = np.zeros(len(texts) + 1, dtype=np.int64)
        np.cumsum(per_text, out=indptr[1:])
        values = np.repeat(np.asarray(scales, dtype=np.float64), np.asarray(lengths, dtype=np.int64))
        return SparseRows(indptr, np.asarray(flat, dtype=np.int64), values)

    def _chars_of(self, token: str, low: int, high: int) -> tuple[list[int], int]:
        """Known character n-gram indices of a word and its n-gram count, cached per word."""
        cached = self._char_cache.get(token)
        if cached is None:
            grams = _char_grams(_char_word(token, self.params.negation), low, high)
            index = self._index
            cached = ([index[g] for g in grams if g in index], len(grams))
            if len(self._char_cache) >= _CACHE_LIMIT:
                self._char_cache.clear()
            self._char_cache[token] = cached
        return cached


class FoldedLinear:
    """`Featurizer.transform(texts) @ weights` without building the feature rows.

    A linear model's character n-gram block adds up, per word, to one vector: the sum of the
    weights of the word's known n-grams. Those sums are cached per word, so a text costs one
    lookup per word instead of one per n-gram (about 15 times fewer), and word n-grams are looked
    up directly. Every text's result is summed in a fixed order, so it does not depend on the
    batch it is in; it equals the sparse product up to floating-point rounding.
    """

    def __init__(self, featurizer: Featurizer, weights: npt.NDArray[np.float64]) -> None:
        if weights.ndim != 2 or weights.shape[0] != featurizer.size:
            raise ValueError(f"weights must have shape ({featurizer.size}, outputs), got {weights.shape}")
        self._params = featurizer.params
        self._index = featurizer.index
        self._weights = np.ascontiguousarray(weights, dtype=np.float64)
        self._outputs = weights.shape[1]
        self._lock = threading.Lock()  # the per-word cache grows while scoring
        self._reset_words()

    def _reset_words(self) -> None:
        """Forget the per-token cache (done between batches when it is full)."""
        # token -> (row of its n-gram weight sum or -1 if not a word, unigram column or -1, n-gram count)
        self._token_cache: dict[str, tuple[int, int, int]] = {}
        # The words whose n-gram weight sums are rows of the table ("like" serves "like_neg" too).
        self._words: list[str] = []
        self._word_rows: dict[str, int] = {}
        self._table = np.zeros((1024, self._outputs), dtype=np.float64)

    def logits(self, texts: Sequence[str]) -> npt.NDArray[np.float64]:
        """The (len(texts), outputs) array of feature rows times weights (thread-safe)."""
        with self._lock:
            return self._logits(texts)

    def _logits(self, texts: Sequence[str]) -> npt.NDArray[np.float64]:
        """`logits` under the lock."""
        if len(self._token_cache) > _CACHE_LIMIT:
            self._reset_words()
        index = self._index
        word_low, word_high = self._params.word_ngrams
        use_words = self._params.word_ngrams != (0, 0)
        use_chars = self._params.char_ngrams != (0, 0)
        unigrams = use_words and word_low == 1
        longer = range(max(word_low, 2), word_high + 1) if use_words else range(0)
        cache = self._token_cache
        new_token = self._new_token
        negation = self._params.negation
        word_ids: list[int] = []
        word_lengths: list[int] = []
        word_scales: list[float] = []
        char_rows: list[int] = []
        char_lengths: list[int] = []
        char_scales: list[float] = []
        known_words = len(self._words)
        for text in texts:
            toks = tokens(text, negation)
            word_start = len(word_ids)
            char_start = len(char_rows)
            grams = 0
            for token in toks:
                entry = cache.get(token)
                if entry is None:
                    entry = new_token(token)
                row, unigram, count = entry
                if unigram >= 0 and unigrams:
                    word_ids.append(unigram)
                if row >= 0:
                    char_rows.append(row)
                    grams += count
            if use_words:
                total = len(toks) if unigrams else 0
                for n in longer:
                    if n == 2:  # the usual case, without slicing
                        for first, second in itertools.pairwise(toks):
                            found = index.get(f"{WORD_PREFIX}{first} {second}")
                            if found is not None:
                                word_ids.append(found)
                    else:
                        for start in range(len(toks) - n + 1):
                            found = index.get(WORD_PREFIX + " ".join(toks[start : start + n]))
                            if found is not None:
                                word_ids.append(found)
                    total += max(0, len(toks) - n + 1)
                word_lengths.append(len(word_ids) - word_start)
                word_scales.append(1.0 / math.sqrt(total) if total else 0.0)
            if use_chars:
                char_lengths.append(len(char_rows) - char_start)
                char_scales.append(1.0 / math.sqrt(grams) if grams else 0.0)
        if len(self._words) > known_words:
            self._add_words(known_words)
        result = np.zeros((len(texts), self._outputs), dtype=np.float64)
        if use_words:
            result += _block_sum(self._weights, word_ids, word_lengths, word_scales, len(texts))
        if use_chars:
            result += _block_sum(self._table, char_rows, char_lengths, char_scales, len(texts))
        return result

    def _new_token(self, token: str) -> tuple[int, int, int]:
        """Cache a token seen for the first time: its word row (weights summed later), unigram, n-gram count."""
        row, count = -1, 0
        if _is_word(token) and self._params.char_ngrams != (0, 0):
            word = _char_word(token, self._params.negation)
            found = self._word_rows.get(word)
            if found is None:
                found = self._word_rows[word] = len(self._words)
                self._words.append(word)
            row = found
            count = _gram_count(word, *self._params.char_ngrams)
        entry = (row, self._index.get(WORD_PREFIX + token, -1), count)
        self._token_cache[token] = entry
        return entry

    def _add_words(self, first: int) -> None:
        """Compute the n-gram weight sums of the words given rows from `first` on."""
        needed = len(self._words)
        if needed > len(self._table):
            grown = np.zeros((max(needed, 2 * len(self._table)), self._outputs), dtype=np.float64)
            grown[:first] = self._table[:first]
            self._table = grown
        index = self._index
        low, high = self._params.char_ngrams
        known: list[int] = []
        lengths: list[int] = []
        for row in range(first, needed):
            start = len(known)
            known.extend([index[g] for g in _char_grams(self._words[row], low, high) if g in index])
            lengths.append(len(known) - start)
        ones = [1.0] * len(lengths)
        self._table[first:needed] = _block_sum(self._weights, known, lengths, ones, needed - first)


def _gram_count(word: str, low: int, high: int) -> int:
    """How many character n-grams `_char_grams` gives for a word."""
    size = len(word) + 2
    return sum(max(0, size - n + 1) for n in range(low, high + 1))


def _block_sum(
    table: npt.NDArray[np.float64],
    ids: list[int],
    lengths: list[int],
    scales: list[float],
    rows: int,
) -> npt.NDArray[np.float64]:
    """Per text: the scaled sum of `table` rows at its ids, summed in order (batch-independent)."""
    result = np.zeros((rows, table.shape[1]), dtype=np.float64)
    if not ids:
        return result
    counts = np.asarray(lengths, dtype=np.int64)
    row_of = np.repeat(np.arange(rows), counts)
    gathered = table[np.asarray(ids, dtype=np.int64)]
    scale = np.asarray(scales, dtype=np.float64)
    for k in range(table.shape[1]):
        result[:, k] = np.bincount(row_of, weights=gathered[:, k], minlength=rows) * scale
    return result
