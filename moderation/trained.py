"""Trained models: load a model directory (no pickles, validated) and score texts with it.

A model directory (written by `moderation.training`) holds:
- `manifest.json`: format and version, feature parameters, and per task its labels, files,
  decision threshold (binary) or how the class scores combine and the class offsets (sentiment),
  the dense signals it reads with their standardisation, the training file's sha256 and row
  counts, and cross-validation figures;
- `vocabulary.json`: the feature names (`moderation.features`) shared by every task;
- `<task>.coef.npy`, `<task>.intercept.npy`: float64 arrays, loaded with `allow_pickle=False`.
  Columns of a coefficient matrix: one per vocabulary feature, then one per dense signal.
Loading never executes code from the directory: JSON and plain numpy arrays only, every file
checked against the sha256 the manifest records. Format 2 added negation marking
(`features.negation`) and `tasks.sentiment.combine`; format 1 directories are still read, as
written (no negation marking, softmax).

`TrainedScorer` is a `Scorer` that runs the default scorers (whose signals the models also read)
and adds, per task present: `trained_complaint`, `trained_offensive` (probabilities shifted so
that the threshold chosen by cross-validation sits at 0.5) and `trained_sentiment_negative`,
`trained_sentiment_neutral`, `trained_sentiment_positive` (class probabilities, offsets applied:
a softmax of the class scores plus offsets, or with `combine` "one_vs_rest" the same over each
class's log-sigmoid).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from moderation.features import FeatureParams, Featurizer, FoldedLinear
from moderation.scorer import Scorer, check_scores
from moderation.tasks import TASKS, TaskSpec
from tactful.errors import ConfigurationError

FORMAT = "tactful-model"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
MANIFEST = "manifest.json"
SOFTMAX = "softmax"  # multiclass: probabilities are a softmax of the class scores
ONE_VS_REST = "one_vs_rest"  # multiclass: each class its own sigmoid, normalised
COMBINES = (SOFTMAX, ONE_VS_REST)


_SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


class ModelDirError(ConfigurationError):
    """A model directory is missing, incomplete or inconsistent; the message names file and field."""


@dataclass(frozen=True, slots=True)
class TaskModel:
    """One task's linear model over the shared vocabulary plus its dense signals."""

    spec: TaskSpec
    coef: npt.NDArray[np.float64]  # (outputs, vocabulary + dense)
    intercept: npt.NDArray[np.float64]  # (outputs,): for a binary task, shifted so its threshold is 0.5
    dense: tuple[str, ...]
    dense_mean: tuple[float, ...]
    dense_scale: tuple[float, ...]
    threshold: float | None  # binary tasks: the decision threshold chosen by cross-validation
    combine: str | None = None  # multiclass tasks: SOFTMAX or ONE_VS_REST
    offsets: tuple[float, ...] | None = None  # multiclass tasks: added to the class log-scores


@dataclass(frozen=True, slots=True)
class TrainedModels:
    """A loaded model directory: the featurizer and one model per trained task."""

    name: str  # "trained-<first 12 hex of the manifest's sha256>"
    path: Path
    featurizer: Featurizer
    tasks: dict[str, TaskModel]
    manifest: dict[str, Any]


def load_models(directory: str | Path) -> TrainedModels:
    """Load and validate a model directory; raise ModelDirError naming the file and field at fault."""
    root = Path(directory)
    if not root.is_dir():
        raise ModelDirError(f"model dir {root}: not a directory")
    manifest_path = root / MANIFEST
    try:
        raw = manifest_path.read_bytes()
    except OSError as exc:
        raise ModelDirError(f"{manifest_path}: cannot read ({exc.strerror})") from None
    try:
        manifest = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelDirError(f"{manifest_path}: not valid JSON ({exc})") from None
    reader = _ManifestReader(manifest_path)
    if not isinstance(manifest, dict):
        raise reader.error("", "must be a JSON object")
    if manifest.get("format") != FORMAT:
        raise reader.error("format", f"must be {FORMAT!r}")
    version = manifest.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version not in READABLE_VERSIONS:
        readable = " and ".join(str(v) for v in READABLE_VERSIONS)
        raise reader.error("format_version", f"is {version!r}, this tactful reads {readable}")
    features = reader.mapping(manifest, "features")
    fields = {k: features.get(k) for k in ("word_ngrams", "char_ngrams", "negation") if k in features}
    if version == 1:
        fields["negation"] = False  # format 1 had no negation marking
    try:
        params = FeatureParams.from_json(fields)
    except ValueError as exc:
        raise reader.error("features", str(exc)) from None
    vocabulary_file = reader.mapping(features, "vocabulary", "features.vocabulary")
    vocabulary = _load_vocabulary(root, reader, vocabulary_file)
    try:
        featurizer = Featurizer(params, vocabulary)
    except ValueError as exc:
        raise reader.error("features.vocabulary", str(exc)) from None
    tasks_json = reader.mapping(manifest, "tasks")
    if not tasks_json:
        raise reader.error("tasks", "names no task")
    tasks: dict[str, TaskModel] = {}
    for task_name, task_json in tasks_json.items():
        if task_name not in TASKS:
            raise reader.error(f"tasks.{task_name}", f"unknown task (known: {', '.join(TASKS)})")
        tasks[task_name] = _load_task(root, reader, TASKS[task_name], task_json, len(vocabulary), version)
    name = "trained-" + hashlib.sha256(raw).hexdigest()[:12]
    return TrainedModels(name=name, path=root, featurizer=featurizer, tasks=tasks, manifest=manifest)


class _ManifestReader:
    """Typed access to manifest fields with errors that name the file and the field."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def error(self, field: str, problem: str) -> ModelDirError:
        """An error about one field of the manifest."""
        where = f"{self.path}: {field}" if field else str(self.path)
        return ModelDirError(f"{where} {problem}" if field else f"{where}: {problem}")

    def mapping(self, parent: Mapping[str, Any], key: str, field: str | None = None) -> dict[str, Any]:
        """A required JSON object."""
        value = parent.get(key)
        if not isinstance(value, dict):
            raise self.error(field or key, "must be a JSON object")
        return value

    def number(self, parent: Mapping[str, Any], key: str, field: str) -> float:
        """A required finite number."""
        value = parent.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise self.error(field, "must be a finite number")
        return float(value)

    def numbers(self, parent: Mapping[str, Any], key: str, field: str, length: int) -> tuple[float, ...]:
        """A required list of `length` finite numbers."""
        value = parent.get(key)
        if not isinstance(value, list) or len(value) != length:
            raise self.error(field, f"must be a list of {length} numbers")
        for item in value:
            if isinstance(item, bool) or not isinstance(item, int | float) or not math.isfinite(item):
                raise self.error(field, f"must be a list of {length} finite numbers")
        return tuple(float(item) for item in value)

    def strings(self, parent: Mapping[str, Any], key: str, field: str) -> tuple[str, ...]:
        """A required list of strings."""
        value = parent.get(key)
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise self.error(field, "must be a list of strings")
        return tuple(value)

    def file(self, root: Path, entry: Any, field: str) -> bytes:
        """The bytes of a file the manifest names as {"file", "sha256"}, checked against the hash."""
        if not isinstance(entry, dict):
            raise self.error(field, 'must be a JSON object {"file", "sha256"}')
        name = entry.get("file")
        if not isinstance(name, str) or not _SAFE_NAME.match(name):
            raise self.error(f"{field}.file", "must be a plain file name inside the model dir")
        digest = entry.get("sha256")
        if not isinstance(digest, str):
            raise self.error(f"{field}.sha256", "must be a string")
        path = root / name
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ModelDirError(f"{path}: cannot read ({exc.strerror}), named by {field}.file") from None
        if hashlib.sha256(data).hexdigest() != digest:
            raise ModelDirError(f"{path}: sha256 does not match {self.path.name} {field}.sha256")
        return data


def _load_vocabulary(root: Path, reader: _ManifestReader, entry: dict[str, Any]) -> list[str]:
    """Read the vocabulary file: a JSON list of distinct feature names."""
    data = reader.file(root, entry, "features.vocabulary")
    path = root / str(entry["file"])
    try:
        vocabulary = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelDirError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(vocabulary, list) or not all(isinstance(name, str) for name in vocabulary):
        raise ModelDirError(f"{path}: must be a JSON list of strings")
    return vocabulary


def _load_array(root: Path, reader: _ManifestReader, entry: Any, field: str) -> npt.NDArray[np.float64]:
    """Read a float64 .npy file without allowing pickled objects."""
    data = reader.file(root, entry, field)
    try:
        array = np.load(io.BytesIO(data), allow_pickle=False)
    except ValueError as exc:
        raise ModelDirError(f"{root / str(entry['file'])}: not a plain numpy array ({exc})") from None
    if not isinstance(array, np.ndarray) or array.dtype != np.float64:
        raise ModelDirError(f"{root / str(entry['file'])}: must hold a float64 array")
    if not np.all(np.isfinite(array)):
        raise ModelDirError(f"{root / str(entry['file'])}: holds values that are not finite")
    return array


def _load_task(
    root: Path, reader: _ManifestReader, spec: TaskSpec, task_json: Any, vocabulary_size: int, version: int
) -> TaskModel:
    """Validate one task's manifest entry and load its arrays."""
    field = f"tasks.{spec.name}"
    if not isinstance(task_json, dict):
        raise reader.error(field, "must be a JSON object")
    labels = reader.strings(task_json, "labels", f"{field}.labels")
    if labels != spec.labels:
        raise reader.error(f"{field}.labels", f"must be {list(spec.labels)}")
    dense_json = reader.mapping(task_json, "dense", f"{field}.dense")
    dense = reader.strings(dense_json, "signals", f"{field}.dense.signals")
    mean = reader.numbers(dense_json, "mean", f"{field}.dense.mean", len(dense))
    scale = reader.numbers(dense_json, "scale", f"{field}.dense.scale", len(dense))
    if any(value <= 0 for value in scale):
        raise reader.error(f"{field}.dense.scale", "must be positive numbers")
    outputs = 1 if spec.positive is not None else len(spec.labels)
    coef = _load_array(root, reader, task_json.get("coef"), f"{field}.coef")
    if coef.shape != (outputs, vocabulary_size + len(dense)):
        raise reader.error(
            f"{field}.coef",
            f"has shape {list(coef.shape)}, expected [{outputs}, {vocabulary_size + len(dense)}] "
            "(outputs, vocabulary + dense signals)",
        )
    intercept = _load_array(root, reader, task_json.get("intercept"), f"{field}.intercept")
    if intercept.shape != (outputs,):
        raise reader.error(f"{field}.intercept", f"has shape {list(intercept.shape)}, expected [{outputs}]")
    threshold: float | None = None
    combine: str | None = None
    offsets: tuple[float, ...] | None = None
    if spec.positive is not None:
        threshold = reader.number(task_json, "threshold", f"{field}.threshold")
        if not 0.0 < threshold < 1.0:
            raise reader.error(f"{field}.threshold", "must be between 0 and 1 (exclusive)")
        # Shift the logit so that the chosen threshold lands on 0.5.
        intercept = intercept - math.log(threshold / (1.0 - threshold))
    else:
        offsets = reader.numbers(task_json, "offsets", f"{field}.offsets", outputs)
        combine = SOFTMAX if version == 1 else task_json.get("combine")
        if combine not in COMBINES:
            raise reader.error(f"{field}.combine", f"must be {' or '.join(repr(c) for c in COMBINES)}")
    return TaskModel(
        spec=spec,
        coef=coef,
        intercept=intercept,
        dense=dense,
        dense_mean=mean,
        dense_scale=scale,
        threshold=threshold,
        combine=combine,
        offsets=offsets,
    )


class TrainedScorer:
    """Scores texts with the base scorers, then with every trained task model (see the module docstring).

    The base scorers (normally `default_scorers()`) provide the dense signals the models read;
    their signals are passed through unchanged, so this one scorer replaces them in a `Moderator`.
    """

    name = "trained"

    def __init__(self, models: TrainedModels, base: Sequence[Scorer]) -> None:
        self.models = models
        self._base = tuple(base)
        vocabulary = models.featurizer.size
        self._tasks = tuple(models.tasks.values())
        # The text part of every task's coefficients side by side: one pass over a text serves all tasks.
        self._text = FoldedLinear(
            models.featurizer, np.concatenate([task.coef[:, :vocabulary] for task in self._tasks], axis=0).T
        )
        self._dense_weights = tuple(task.coef[:, vocabulary:] for task in self._tasks)
        probe = self._base_scores([""])
        for task in self._tasks:
            missing = [signal for signal in task.dense if signal not in probe]
            if missing:
                raise ModelDirError(
                    f"model dir {models.path}: the {task.spec.name} model reads signal {missing[0]!r}, "
                    "which no scorer of this tactful produces (retrain the model)"
                )

    def score(self, texts: Sequence[str]) -> dict[str, list[float]]:
        """Score a batch: the base scorers' signals plus one probability signal per trained output."""
        columns = self._base_scores(texts)
        if not texts:
            for task in self._tasks:
                for signal in task.spec.signals:
                    columns[signal] = []
            return columns
        text_logits = self._text.logits(texts)
        count = len(texts)
        output = 0
        for task, dense_weights in zip(self._tasks, self._dense_weights, strict=True):
            logits = np.empty((count, len(task.intercept)), dtype=np.float64)
            for k in range(len(task.intercept)):
                # Element-wise sums only (no matrix products): a text scores the same in any batch.
                z = text_logits[:, output + k] + task.intercept[k]
                for j, signal in enumerate(task.dense):
                    values = np.asarray(columns[signal], dtype=np.float64)
                    z += dense_weights[k, j] * ((values - task.dense_mean[j]) / task.dense_scale[j])
                logits[:, k] = z
            output += len(task.intercept)
            probabilities = output_probabilities(logits, task.combine, task.offsets)
            for signal, values in zip(task.spec.signals, probabilities, strict=True):
                columns[signal] = values.tolist()
        return columns

    def _base_scores(self, texts: Sequence[str]) -> dict[str, list[float]]:
        """Run the base scorers, checking lengths and that signal names are unique."""
        columns: dict[str, list[float]] = {}
        for scorer in self._base:
            scores = scorer.score(texts)
            check_scores(scorer, scores, len(texts))
            for signal, values in scores.items():
                if signal in columns:
                    raise ValueError(f"signal {signal!r} is produced by more than one scorer")
                columns[signal] = values
        return columns


def output_probabilities(
    logits: npt.NDArray[np.float64], combine: str | None, offsets: Sequence[float] | None = None
) -> list[npt.NDArray[np.float64]]:
    """Per output, the probabilities of a (rows, outputs) array of linear scores; one array per output.

    One output: its sigmoid. Several: a softmax of `scores + offsets`, where the scores are the
    logits (SOFTMAX) or each logit's log-sigmoid (ONE_VS_REST: the classes' own probabilities,
    normalised). Element-wise per row, so a row's result does not depend on the others.
    """
    if logits.shape[1] == 1:
        return [1.0 / (1.0 + np.exp(-np.clip(logits[:, 0], -700.0, 700.0)))]
    scores = -np.logaddexp(0.0, -logits) if combine == ONE_VS_REST else logits.copy()
    if offsets is not None:
        scores += np.asarray(offsets, dtype=np.float64)
    shifted = scores - scores.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    probabilities = exp / exp.sum(axis=1, keepdims=True)
    return [probabilities[:, k] for k in range(logits.shape[1])]
