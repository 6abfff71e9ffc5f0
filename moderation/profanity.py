"""alt-profanity-check's model without scikit-learn at run time: same probabilities, faster start.

alt-profanity-check is a TF-IDF vectoriser (lowercase, `(?u)\\b\\w\\w+\\b` tokens, l2 norm)
followed by a `CalibratedClassifierCV` of linear SVMs with sigmoid calibration. Importing
scikit-learn to run it costs about a second per process, more than scoring thousands of
texts. So the model's numbers (vocabulary, idf, the SVMs' weights and the calibrators'
sigmoid parameters) are exported once, with scikit-learn, to a JSON cache file, and later
processes compute `predict_prob` from that file in plain Python:

    x = tfidf(text) / ||tfidf(text)||;  p = mean_k 1 / (1 + exp(a_k * (w_k . x + b_k) + c_k))

The result equals `profanity_check.predict_prob` up to rounding (the tests compare them
within 1e-9; the differences seen are around 1e-16). The cache lives in
`$TACTFUL_CACHE_DIR`, else `$XDG_CACHE_HOME/tactful`, else `~/.cache/tactful`; its name holds
the package version and the model file's size and mtime, so an upgraded model is re-exported.
If the cache cannot be written the exported numbers are still used from memory.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

from tactful.errors import ConfigurationError

_TOKEN = re.compile(r"(?u)\b\w\w+\b")
_FORMAT = 1


@dataclass(frozen=True, slots=True)
class _Classifier:
    """One calibrated linear SVM: decision `w . x + intercept`, probability `1/(1+exp(a*d + b))`."""

    intercept: float
    a: float
    b: float


class ProfanityModel:
    """alt-profanity-check's TF-IDF + calibrated linear SVMs, evaluated in plain Python."""

    def __init__(self, exported: dict[str, Any]) -> None:
        vocabulary: dict[str, int] = exported["vocabulary"]
        idf: list[float] = exported["idf"]
        weights: list[list[float]] = exported["weights"]  # one list per classifier, by feature index
        self._classifiers = tuple(_Classifier(*c) for c in exported["classifiers"])
        # Per word: its idf and idf * weight in each classifier.
        self._features: dict[str, tuple[float, tuple[float, ...]]] = {
            word: (idf[index], tuple(idf[index] * w[index] for w in weights))
            for word, index in vocabulary.items()
        }

    def predict_prob(self, texts: Sequence[str]) -> list[float]:
        """Return the probability that each text is profane, as `profanity_check.predict_prob`."""
        return [self._one(text) for text in texts]

    def _one(self, text: str) -> float:
        """Probability for one text."""
        features = self._features
        counts: dict[str, int] = {}
        for token in _TOKEN.findall(text.lower()):
            if token in features:
                counts[token] = counts.get(token, 0) + 1
        decisions = [c.intercept for c in self._classifiers]
        if counts:
            squares = 0.0
            sums = [0.0] * len(decisions)
            for word, count in counts.items():
                idf, scaled = features[word]
                squares += (count * idf) ** 2
                for k, weight in enumerate(scaled):
                    sums[k] += count * weight
            norm = math.sqrt(squares)
            decisions = [d + total / norm for d, total in zip(decisions, sums, strict=True)]
        probability = 0.0
        for decision, classifier in zip(decisions, self._classifiers, strict=True):
            probability += 1.0 / (1.0 + math.exp(min(classifier.a * decision + classifier.b, 700.0)))
        probability /= len(decisions)
        return 1.0 if 1.0 < probability <= 1.0 + 1e-5 else probability


def export_profanity_check() -> dict[str, Any]:
    """Read alt-profanity-check's fitted model (needs scikit-learn) into plain JSON-ready numbers."""
    # Imported here, not at the top: it loads scikit-learn (~1 s), needed only on a cache miss.
    from profanity_check import profanity_check as package

    vectorizer, model = package.vectorizer, package.model
    if (
        vectorizer.get_params().get("ngram_range") != (1, 1)
        or vectorizer.get_params().get("norm") != "l2"
        or vectorizer.get_params().get("sublinear_tf")
        or vectorizer.get_params().get("token_pattern") != _TOKEN.pattern
        or getattr(model, "method", None) != "sigmoid"
    ):
        raise ValueError("unsupported alt-profanity-check model layout")
    classifiers = []
    weights = []
    for calibrated in model.calibrated_classifiers_:
        (calibrator,) = calibrated.calibrators
        estimator = calibrated.estimator
        weights.append([float(w) for w in estimator.coef_[0]])
        classifiers.append([float(estimator.intercept_[0]), float(calibrator.a_), float(calibrator.b_)])
    return {
        "format": _FORMAT,
        "vocabulary": {str(word): int(index) for word, index in vectorizer.vocabulary_.items()},
        "idf": [float(value) for value in vectorizer.idf_],
        "weights": weights,
        "classifiers": classifiers,
    }


def cache_path() -> Path:
    """Where the exported model is cached for this version of alt-profanity-check."""
    base = os.environ.get("TACTFUL_CACHE_DIR")
    if base:
        directory = Path(base)
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        directory = (Path(xdg) if xdg else Path.home() / ".cache") / "tactful"
    spec = importlib.util.find_spec("profanity_check")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise ConfigurationError("alt-profanity-check is not installed")
    stat = os.stat(Path(spec.submodule_search_locations[0]) / "data" / "model.joblib")
    version = metadata.version("alt-profanity-check")
    return directory / f"profanity-check-{version}-{stat.st_size}-{stat.st_mtime_ns}.json"


def load_profanity_model(path: Path | None = None) -> ProfanityModel:
    """Load the model from the cache file at `path` (default `cache_path()`), exporting it first on a miss."""
    path = cache_path() if path is None else path
    try:
        exported = json.loads(path.read_text("utf-8"))
        if not isinstance(exported, dict) or exported.get("format") != _FORMAT:
            raise ValueError("not a profanity model cache of this format")
        return ProfanityModel(exported)
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        exported = export_profanity_check()
        _write_atomically(path, json.dumps(exported, separators=(",", ":")))
        return ProfanityModel(exported)


@lru_cache(maxsize=1)
def shared_profanity_model() -> ProfanityModel:
    """Return the process-wide model (loaded once)."""
    return load_profanity_model()


def _write_atomically(path: Path, content: str) -> None:
    """Write the cache file via a temporary file and a rename; give up quietly if not writable."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, delete=False) as handle:
            handle.write(content)
        os.replace(handle.name, path)
    except OSError:
        return
