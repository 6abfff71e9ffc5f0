"""Fit the trained models from labelled JSON Lines files and write a model directory.

Per task: word and character n-gram features (`moderation.features`) plus the default scorers'
signals (VADER, profanity, insults, rule cues), standardised and down-weighted, feed a
scikit-learn `LogisticRegression` with balanced class weights. The regularisation `C` is chosen
by stratified k-fold cross-validation (the vocabulary is rebuilt inside every fold); the binary
tasks' decision threshold (complaint: F1 of "complaint"; offensive: macro-F1) and the sentiment
classes' logit offsets (macro-recall) are chosen on the same out-of-fold predictions, so the
reported CV figure is slightly optimistic. With `holdout > 0` a deterministic stratified share of
each file (`moderation.tasks.split_holdout`) is kept out of everything and measured at the end:
that is the honest figure. Only this module imports scikit-learn; using a model does not.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from moderation.classifier import default_scorers
from moderation.evaluate import Evaluation, evaluate
from moderation.features import FeatureParams, Featurizer, build_vocabulary
from moderation.tasks import TASKS, LabelledSet, read_labelled, split_holdout
from moderation.trained import FORMAT, FORMAT_VERSION, MANIFEST
from tactful.errors import TactfulError

METRICS = {"complaint": "f1", "offensive": "macro_f1", "sentiment": "macro_recall"}
_THRESHOLDS = tuple(round(0.05 + 0.01 * i, 2) for i in range(91))
_OFFSETS = tuple(round(-1.0 + 0.1 * i, 1) for i in range(21))


class TrainingError(TactfulError):
    """Training cannot proceed (bad options, too few rows, an output directory in the way)."""


@dataclass(frozen=True, slots=True)
class TrainOptions:
    """How models are fitted; the defaults are the ones measured in docs/moderation.md."""

    params: FeatureParams = field(default_factory=FeatureParams)
    min_df: int = 2
    c_grid: tuple[float, ...] = (0.3, 1.0, 3.0)
    folds: int = 5
    holdout: float = 0.0
    dense_weight: float = 0.1
    max_iter: int = 2000


@dataclass(frozen=True, slots=True)
class FittedTask:
    """One task's fitted model in its own vocabulary, with how it was chosen and measured."""

    task: str
    vocabulary: list[str]
    coef: npt.NDArray[np.float64]  # (outputs, len(vocabulary) + len(dense))
    intercept: npt.NDArray[np.float64]  # (outputs,)
    dense: tuple[str, ...]
    dense_mean: tuple[float, ...]
    dense_scale: tuple[float, ...]
    decision: dict[str, Any]  # {"threshold": t} or {"offsets": [...]}
    training: dict[str, Any]
    cv: dict[str, Any]
    held_out: dict[str, Any] | None


def dense_columns(texts: Sequence[str]) -> dict[str, list[float]]:
    """The default scorers' signals for `texts`, by signal name."""
    columns: dict[str, list[float]] = {}
    for scorer in default_scorers():
        columns.update(scorer.score(texts))
    return columns


def fit_task(
    task: str,
    data: LabelledSet,
    options: TrainOptions,
    progress: Callable[[str], None] = lambda _: None,
) -> FittedTask:
    """Cross-validate, choose C and the decision rule, fit on all training rows, measure the held-out rows."""
    spec = TASKS[task]
    if options.folds < 2:
        raise TrainingError("folds must be at least 2")
    if not options.c_grid or any(c <= 0 for c in options.c_grid):
        raise TrainingError("every C must be positive")
    train_positions, held_positions = split_holdout(data, options.holdout)
    train = data.subset(train_positions)
    counts = train.label_counts()
    missing = [label for label in spec.labels if counts.get(label, 0) < options.folds]
    if missing:
        raise TrainingError(
            f"{data.path}: label {missing[0]!r} needs at least {options.folds} training rows "
            f"for {options.folds}-fold cross-validation"
        )
    texts = list(train.texts)
    y = np.asarray(train.labels)
    signals = dense_columns(texts)
    dense = tuple(sorted(signals))
    raw_dense = np.column_stack([np.asarray(signals[name], dtype=np.float64) for name in dense])

    from sklearn.model_selection import StratifiedKFold

    folds = StratifiedKFold(options.folds, shuffle=True, random_state=0)
    out_of_fold = {c: np.zeros((len(texts), len(spec.labels))) for c in options.c_grid}
    for number, (fold_train, fold_test) in enumerate(folds.split(texts, y), start=1):
        vocabulary = build_vocabulary([texts[i] for i in fold_train], options.params, options.min_df)
        mean, scale = _standardisation(raw_dense[fold_train], options.dense_weight)
        matrix = _design(Featurizer(options.params, vocabulary), texts, raw_dense, mean, scale)
        for c in options.c_grid:
            model = _fit(matrix[fold_train], y[fold_train], c, options.max_iter)
            out_of_fold[c][fold_test] = _ordered_proba(model, matrix[fold_test], spec.labels)
        progress(f"{task}: fold {number}/{options.folds} done")

    by_c: dict[float, tuple[float, dict[str, Any]]] = {
        c: _choose_decision(task, list(train.labels), proba) for c, proba in out_of_fold.items()
    }
    best_c = max(options.c_grid, key=lambda c: (round(by_c[c][0], 6), -c))
    decision = by_c[best_c][1]
    cv_eval = evaluate(task, list(train.labels), _decide(task, out_of_fold[best_c], decision))

    vocabulary = build_vocabulary(texts, options.params, options.min_df)
    mean, scale = _standardisation(raw_dense, options.dense_weight)
    featurizer = Featurizer(options.params, vocabulary)
    model = _fit(_design(featurizer, texts, raw_dense, mean, scale), y, best_c, options.max_iter)
    coef, intercept = _ordered_coefficients(model, spec.labels, spec.positive)

    held_out: dict[str, Any] | None = None
    if held_positions:
        held = data.subset(held_positions)
        held_signals = dense_columns(list(held.texts))
        held_raw = np.column_stack([np.asarray(held_signals[name], dtype=np.float64) for name in dense])
        matrix = _design(featurizer, list(held.texts), held_raw, mean, scale)
        proba = _ordered_proba(model, matrix, spec.labels)
        held_eval = evaluate(task, list(held.labels), _decide(task, proba, decision))
        held_out = {"rows": len(held_positions), **_figures(held_eval, METRICS[task])}

    return FittedTask(
        task=task,
        vocabulary=vocabulary,
        coef=coef,
        intercept=intercept,
        dense=dense,
        dense_mean=tuple(float(v) for v in mean),
        dense_scale=tuple(float(v) for v in scale),
        decision=decision,
        training={
            "file": str(data.path),
            "sha256": data.sha256,
            "rows": len(data.ids),
            "training_rows": len(train_positions),
            "held_out_rows": len(held_positions),
            "held_out_fraction": options.holdout,
            "label_counts": data.label_counts(),
        },
        cv={
            "folds": options.folds,
            "C": best_c,
            "value_by_C": {_c_key(c): round(by_c[c][0], 4) for c in options.c_grid},
            "decision_chosen_on": "the same out-of-fold predictions (slightly optimistic)",
            **_figures(cv_eval, METRICS[task]),
        },
        held_out=held_out,
    )


def train(
    out: str | Path,
    files: Mapping[str, str | Path],
    options: TrainOptions | None = None,
    force: bool = False,
    progress: Callable[[str], None] = lambda _: None,
    created_at: datetime | None = None,
) -> dict[str, Any]:
    """Fit a model per task in `files` (task -> labelled file), write the directory, return its manifest."""
    options = options or TrainOptions()
    if not files:
        raise TrainingError("give at least one labelled file (--complaints, --offensive or --sentiment)")
    unknown = [task for task in files if task not in TASKS]
    if unknown:
        raise TrainingError(f"unknown task {unknown[0]!r}")
    target = _check_output(Path(out), force)
    fitted = []
    for task, path in files.items():
        data = read_labelled(path, task)
        progress(f"{task}: {len(data.ids)} rows from {path}")
        fitted.append(fit_task(task, data, options, progress))
    return write_model_dir(target, fitted, options, created_at or datetime.now(UTC))


def write_model_dir(
    out: Path, fitted: Sequence[FittedTask], options: TrainOptions, created_at: datetime
) -> dict[str, Any]:
    """Write the fitted tasks as a model directory (see `moderation.trained`), replacing `out` atomically."""
    vocabulary = sorted(set(itertools.chain.from_iterable(task.vocabulary for task in fitted)))
    position = {name: i for i, name in enumerate(vocabulary)}
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; a model is read by the service user too
    try:
        files = {"vocabulary.json": json.dumps(vocabulary, ensure_ascii=False).encode("utf-8")}
        tasks: dict[str, Any] = {}
        for task in fitted:
            columns = np.asarray([position[name] for name in task.vocabulary], dtype=np.int64)
            coef = np.zeros((task.coef.shape[0], len(vocabulary) + len(task.dense)), dtype=np.float64)
            coef[:, columns] = task.coef[:, : len(task.vocabulary)]
            coef[:, len(vocabulary) :] = task.coef[:, len(task.vocabulary) :]
            files[f"{task.task}.coef.npy"] = _npy(coef)
            files[f"{task.task}.intercept.npy"] = _npy(task.intercept)
            tasks[task.task] = {
                "labels": list(TASKS[task.task].labels),
                **task.decision,
                "coef": _file_entry(f"{task.task}.coef.npy", files),
                "intercept": _file_entry(f"{task.task}.intercept.npy", files),
                "dense": {
                    "signals": list(task.dense),
                    "mean": list(task.dense_mean),
                    "scale": list(task.dense_scale),
                },
                "training": task.training,
                "cv": task.cv,
                "held_out": task.held_out,
            }
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "created_at": created_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "features": {
                **options.params.to_json(),
                "min_df": options.min_df,
                "dense_weight": options.dense_weight,
                "vocabulary": _file_entry("vocabulary.json", files),
            },
            "model": {"kind": "logistic regression, balanced class weights", "C_grid": list(options.c_grid)},
            "tasks": tasks,
        }
        files[MANIFEST] = (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
        for name, data in files.items():
            (staging / name).write_bytes(data)
        previous = None
        if out.exists():
            previous = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
            os.replace(out, previous / out.name)
        os.replace(staging, out)
        if previous is not None:
            shutil.rmtree(previous, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest


def _check_output(out: Path, force: bool) -> Path:
    """Refuse to write over anything but an empty directory or (with force) a model directory."""
    if out.exists():
        if not out.is_dir():
            raise TrainingError(f"{out}: exists and is not a directory")
        contents = list(out.iterdir())
        if contents and not (out / MANIFEST).exists():
            raise TrainingError(f"{out}: exists, is not empty and is not a model directory")
        if contents and not force:
            raise TrainingError(f"{out}: a model directory already exists there (use --force to replace it)")
    return out


def _standardisation(
    raw: npt.NDArray[np.float64], weight: float
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Per dense signal: the mean and the scale (std / weight; constant signals get std 1)."""
    mean = raw.mean(axis=0)
    std = raw.std(axis=0)
    std[std < 1e-9] = 1.0
    return mean, std / weight


def _design(
    featurizer: Featurizer,
    texts: Sequence[str],
    raw_dense: npt.NDArray[np.float64],
    mean: npt.NDArray[np.float64],
    scale: npt.NDArray[np.float64],
) -> Any:
    """The scipy CSR matrix of text features followed by the standardised dense signals."""
    import scipy.sparse as sparse  # no stubs (mypy: ignore_missing_imports); only used here

    rows = featurizer.transform(texts)
    text = sparse.csr_matrix(
        (rows.values, rows.indices, rows.indptr), shape=(rows.rows, featurizer.size), dtype=np.float64
    )
    text.sum_duplicates()
    return sparse.hstack([text, sparse.csr_matrix((raw_dense - mean) / scale)], format="csr")


def _fit(matrix: Any, y: npt.NDArray[Any], c: float, max_iter: int) -> Any:
    """A balanced logistic regression fitted on the rows."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, class_weight="balanced", max_iter=max_iter)
    model.fit(matrix, y)
    return model


def _ordered_proba(model: Any, matrix: Any, labels: Sequence[str]) -> npt.NDArray[np.float64]:
    """predict_proba with columns in `labels` order."""
    proba = model.predict_proba(matrix)
    order = [list(model.classes_).index(label) for label in labels]
    return np.asarray(proba[:, order], dtype=np.float64)


def _ordered_coefficients(
    model: Any, labels: Sequence[str], positive: str | None
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(coef, intercept) as the model directory stores them: one row per output, in label order."""
    coef = np.asarray(model.coef_, dtype=np.float64)
    intercept = np.asarray(model.intercept_, dtype=np.float64)
    classes = list(model.classes_)
    if positive is not None:
        sign = 1.0 if classes[1] == positive else -1.0
        return sign * coef[:1], sign * intercept[:1]
    order = [classes.index(label) for label in labels]
    return coef[order], intercept[order]


def _decide(task: str, proba: npt.NDArray[np.float64], decision: Mapping[str, Any]) -> list[str]:
    """Predicted labels from probabilities (columns in label order) and a decision rule."""
    labels = TASKS[task].labels
    if "threshold" in decision:
        positive = proba[:, 1] >= decision["threshold"]
        return [labels[1] if flag else labels[0] for flag in positive]
    scores = np.log(np.clip(proba, 1e-12, 1.0)) + np.asarray(decision["offsets"])
    return [labels[k] for k in scores.argmax(axis=1)]


def _choose_decision(
    task: str, gold: list[str], proba: npt.NDArray[np.float64]
) -> tuple[float, dict[str, Any]]:
    """The threshold (binary) or class offsets (multiclass) maximising the task's metric."""
    metric = METRICS[task]
    if TASKS[task].positive is not None:
        candidates: list[dict[str, Any]] = [{"threshold": t} for t in _THRESHOLDS]
        # Ties go to the threshold nearest 0.5.
        candidates.sort(key=lambda d: abs(d["threshold"] - 0.5))
    else:
        candidates = [{"offsets": [neg, 0.0, pos]} for neg in _OFFSETS for pos in _OFFSETS]
        candidates.sort(key=lambda d: abs(d["offsets"][0]) + abs(d["offsets"][2]))
    best_value, best = -1.0, candidates[0]
    for candidate in candidates:
        value = evaluate(task, gold, _decide(task, proba, candidate)).metric(metric)
        if value > best_value + 1e-12:
            best_value, best = value, candidate
    return best_value, best


def _figures(evaluation: Evaluation, metric: str) -> dict[str, Any]:
    """The headline metric and per-class figures of an evaluation, rounded for the manifest."""
    return {
        "metric": metric,
        "value": round(evaluation.metric(metric), 4),
        "macro_f1": round(evaluation.macro_f1, 4),
        "macro_recall": round(evaluation.macro_recall, 4),
        "classes": {
            c.label: {"precision": round(c.precision, 4), "recall": round(c.recall, 4), "f1": round(c.f1, 4)}
            for c in evaluation.classes
        },
    }


def _c_key(c: float) -> str:
    """A C value as a manifest key ("0.3", "1", "3")."""
    return f"{c:g}"


def _npy(array: npt.NDArray[np.float64]) -> bytes:
    """The .npy bytes of a float64 array (never pickled)."""
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array, dtype=np.float64), allow_pickle=False)
    return buffer.getvalue()


def _file_entry(name: str, files: Mapping[str, bytes]) -> dict[str, str]:
    """The manifest entry of a file: its name and sha256."""
    return {"file": name, "sha256": hashlib.sha256(files[name]).hexdigest()}
