"""Fit the trained models from labelled JSON Lines files and write a model directory.

Per task and output (the positive label of a binary task; each sentiment class against the other
two) a scikit-learn `LogisticRegression` with balanced class weights reads:
- word and character n-grams (`moderation.features`, with negation marking), each column scaled by
  its naive Bayes log-count ratio for that output (NB-LR, after Wang & Manning 2012): the log of
  how much more often the n-gram occurs in texts with the output's label than in the others
  (presence counts, add-`nb_alpha` smoothed, as shares of all n-gram occurrences of each side);
  `weighting="none"` leaves the values as they are;
- the default scorers' signals (VADER, profanity, insults, rule cues), standardised and
  down-weighted by `dense_weight`.
The ratios are folded into the stored coefficients, so a model costs the same to use as a plain
linear one. The sentiment classes' probabilities are their one-vs-rest sigmoids, normalised.

The regularisation `C` is chosen by stratified k-fold cross-validation; the vocabulary, the ratios
and the standardisation are recomputed in every fold from its training rows. The binary tasks'
decision threshold (complaint: F1 of "complaint"; offensive: macro-F1) and the sentiment classes'
log-probability offsets (macro-recall) are chosen together with C on the out-of-fold predictions.
Two CV figures are reported: `value_optimistic` judges the choice on the same out-of-fold
predictions it was made on (as for the final model), `value` predicts each fold with the C and
decision chosen on the other folds' out-of-fold predictions, so no fold is judged by a choice made
on its own predictions. With `holdout > 0` a deterministic stratified share of each file
(`moderation.tasks.split_holdout`) is kept out of everything and measured at the end: that is the
independent figure. Only this module imports scikit-learn and scipy; using a model does not.
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
from moderation.tasks import TASKS, LabelledSet, TaskSpec, read_labelled, split_holdout
from moderation.trained import FORMAT, FORMAT_VERSION, MANIFEST, ONE_VS_REST, output_probabilities
from tactful.errors import TactfulError

METRICS = {"complaint": "f1", "offensive": "macro_f1", "sentiment": "macro_recall"}
WEIGHTINGS = ("nb", "none")
_THRESHOLDS = tuple(round(0.05 + 0.01 * i, 2) for i in range(91))
_OFFSETS = tuple(round(-1.0 + 0.1 * i, 1) for i in range(21))

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


class TrainingError(TactfulError):
    """Training cannot proceed (bad options, too few rows, an output directory in the way)."""


@dataclass(frozen=True, slots=True)
class TrainOptions:
    """How models are fitted; the defaults are the ones measured in docs/moderation.md."""

    params: FeatureParams = field(default_factory=FeatureParams)
    min_df: int = 2
    c_grid: tuple[float, ...] = (1.0, 3.0, 10.0)
    folds: int = 5
    holdout: float = 0.0
    dense_weight: float = 0.1
    weighting: str = "nb"  # "nb": naive Bayes log-count ratios; "none": plain n-gram values
    nb_alpha: float = 1.0
    max_iter: int = 2000


@dataclass(frozen=True, slots=True)
class FittedTask:
    """One task's fitted model in its own vocabulary, with how it was chosen and measured."""

    task: str
    vocabulary: list[str]
    coef: Floats  # (outputs, len(vocabulary) + len(dense)); n-gram ratios already folded in
    intercept: Floats  # (outputs,)
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
    _check_options(options)
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
    gold = _label_indices(spec, train.labels)
    targets = _targets(spec, gold)
    signals = dense_columns(texts)
    dense = tuple(sorted(signals))
    raw_dense = np.column_stack([np.asarray(signals[name], dtype=np.float64) for name in dense])
    names, text = _text_matrix(texts, options.params)

    from sklearn.model_selection import StratifiedKFold

    folds = list(StratifiedKFold(options.folds, shuffle=True, random_state=0).split(texts, gold))
    out_of_fold = _out_of_fold_logits(text, raw_dense, targets, folds, options, task, progress)
    proba = {c: _probabilities(spec, logits) for c, logits in out_of_fold.items()}
    best_c, decision, by_c = _choose(task, gold, proba)
    optimistic = _evaluation(task, gold, _decide(proba[best_c], decision))
    cross_fold = _evaluation(task, gold, cross_fold_predictions(task, gold, proba, folds))

    columns = _frequent_columns(text, np.arange(len(texts)), options.min_df)
    vocabulary = [names[j] for j in columns]
    mean, scale = _standardisation(raw_dense, options.dense_weight)
    final = _fit_outputs(text[:, columns], (raw_dense - mean) / scale, targets, options, (best_c,))
    coef, intercept = final[best_c]

    held_out: dict[str, Any] | None = None
    if held_positions:
        held = data.subset(held_positions)
        held_signals = dense_columns(list(held.texts))
        held_raw = np.column_stack([np.asarray(held_signals[name], dtype=np.float64) for name in dense])
        held_text = _sparse(Featurizer(options.params, vocabulary), list(held.texts))
        held_proba = _probabilities(spec, _logits(held_text, (held_raw - mean) / scale, coef, intercept))
        held_eval = _evaluation(task, _label_indices(spec, held.labels), _decide(held_proba, decision))
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
            "value_by_C": {_c_key(c): round(by_c[c], 4) for c in options.c_grid},
            "selection": (
                "value: each fold predicted with the C and decision chosen on the other folds' "
                "out-of-fold predictions; value_optimistic: chosen on all of them, as for the final model"
            ),
            **_figures(cross_fold, METRICS[task]),
            "value_optimistic": round(optimistic.metric(METRICS[task]), 4),
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
    _check_options(options)
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
            combine = {} if TASKS[task.task].positive is not None else {"combine": ONE_VS_REST}
            tasks[task.task] = {
                "labels": list(TASKS[task.task].labels),
                **combine,
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
            "model": {
                "kind": "logistic regression per output (one-vs-rest for sentiment), balanced class weights",
                "weighting": _weighting_note(options),
                "C_grid": list(options.c_grid),
            },
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


def _weighting_note(options: TrainOptions) -> str:
    """How the n-gram columns were weighted, for the manifest (informative: the weights are in coef)."""
    if options.weighting == "nb":
        return f"naive Bayes log-count ratios (alpha {options.nb_alpha:g}), folded into coef"
    return "none"


def _check_options(options: TrainOptions) -> None:
    """Refuse options that cannot be trained with."""
    if options.folds < 2:
        raise TrainingError("folds must be at least 2")
    if not options.c_grid or any(c <= 0 for c in options.c_grid):
        raise TrainingError("every C must be positive")
    if options.weighting not in WEIGHTINGS:
        raise TrainingError(f"weighting must be one of {', '.join(WEIGHTINGS)}, got {options.weighting!r}")
    if options.nb_alpha <= 0:
        raise TrainingError("nb_alpha must be positive")
    if options.min_df < 1:
        raise TrainingError("min_df must be at least 1")


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


def _label_indices(spec: TaskSpec, labels: Sequence[str]) -> Ints:
    """Labels as positions in `spec.labels`."""
    position = {label: i for i, label in enumerate(spec.labels)}
    return np.asarray([position[label] for label in labels], dtype=np.int64)


def _targets(spec: TaskSpec, gold: Ints) -> npt.NDArray[np.bool_]:
    """(rows, outputs) booleans: the positive label of a binary task, else each label against the rest."""
    if spec.positive is not None:
        return (gold == spec.labels.index(spec.positive))[:, None]
    return gold[:, None] == np.arange(len(spec.labels))[None, :]


def _text_matrix(texts: Sequence[str], params: FeatureParams) -> tuple[list[str], Any]:
    """Every n-gram of the texts (sorted) and the CSR matrix of their values, one row a text."""
    names = build_vocabulary(texts, params, min_df=1)
    return names, _sparse(Featurizer(params, names), texts)


def _sparse(featurizer: Featurizer, texts: Sequence[str]) -> Any:
    """The scipy CSR matrix of the texts' feature rows (repeated indices summed)."""
    import scipy.sparse as sparse  # no stubs (mypy: ignore_missing_imports); only used here

    rows = featurizer.transform(texts)
    matrix = sparse.csr_matrix(
        (rows.values, rows.indices, rows.indptr), shape=(rows.rows, featurizer.size), dtype=np.float64
    )
    matrix.sum_duplicates()
    return matrix


def _frequent_columns(text: Any, rows: Ints, min_df: int) -> Ints:
    """The columns whose n-gram occurs in at least `min_df` of the given rows (sorted, like the names)."""
    document_frequency = np.bincount(text[rows].indices, minlength=text.shape[1])
    return np.flatnonzero(document_frequency >= min_df)


def nb_ratios(text: Any, positive: npt.NDArray[np.bool_], alpha: float) -> Floats:
    """Per column: log of its smoothed share of the positive rows' presence counts over the others' share."""
    present = text.copy()
    present.data[:] = 1.0
    p = alpha + np.asarray(present[positive].sum(axis=0), dtype=np.float64).ravel()
    q = alpha + np.asarray(present[~positive].sum(axis=0), dtype=np.float64).ravel()
    return np.asarray(np.log(p / p.sum()) - np.log(q / q.sum()), dtype=np.float64)


def _out_of_fold_logits(
    text: Any,
    raw_dense: Floats,
    targets: npt.NDArray[np.bool_],
    folds: Sequence[tuple[Ints, Ints]],
    options: TrainOptions,
    task: str,
    progress: Callable[[str], None],
) -> dict[float, Floats]:
    """Per C, every row's scores from the models fitted on the other folds.

    The vocabulary, the ratios and the standardisation come from those folds' rows only.
    """
    out_of_fold = {c: np.zeros((text.shape[0], targets.shape[1])) for c in options.c_grid}
    for number, (fold_train, fold_test) in enumerate(folds, start=1):
        fold_text = text[:, _frequent_columns(text, fold_train, options.min_df)]
        mean, scale = _standardisation(raw_dense[fold_train], options.dense_weight)
        fold_dense = (raw_dense - mean) / scale
        fitted = _fit_outputs(fold_text[fold_train], fold_dense[fold_train], targets[fold_train], options)
        for c, (coef, intercept) in fitted.items():
            out_of_fold[c][fold_test] = _logits(fold_text[fold_test], fold_dense[fold_test], coef, intercept)
        progress(f"{task}: fold {number}/{options.folds} done")
    return out_of_fold


def _fit_outputs(
    text: Any,
    dense: Floats,
    targets: npt.NDArray[np.bool_],
    options: TrainOptions,
    c_grid: Sequence[float] | None = None,
) -> dict[float, tuple[Floats, Floats]]:
    """Per C: (coef, intercept) of one balanced logistic regression per output, ratios folded into coef."""
    import scipy.sparse as sparse
    from sklearn.linear_model import LogisticRegression

    grid = tuple(c_grid or options.c_grid)
    width = text.shape[1]
    coefs = {c: np.zeros((targets.shape[1], width + dense.shape[1])) for c in grid}
    intercepts = {c: np.zeros(targets.shape[1]) for c in grid}
    dense_block = sparse.csr_matrix(dense)
    for k in range(targets.shape[1]):
        target = targets[:, k]
        ratios = nb_ratios(text, target, options.nb_alpha) if options.weighting == "nb" else np.ones(width)
        design = sparse.hstack([text @ sparse.diags(ratios), dense_block], format="csr")
        for c in grid:
            model = LogisticRegression(C=c, class_weight="balanced", max_iter=options.max_iter)
            model.fit(design, target)
            weights = np.asarray(model.coef_[0], dtype=np.float64)  # classes_ is [False, True]
            coefs[c][k, :width] = weights[:width] * ratios
            coefs[c][k, width:] = weights[width:]
            intercepts[c][k] = float(model.intercept_[0])
    return {c: (coefs[c], intercepts[c]) for c in grid}


def _logits(text: Any, dense: Floats, coef: Floats, intercept: Floats) -> Floats:
    """(rows, outputs) linear scores of the rows."""
    width = text.shape[1]
    scores = text @ coef[:, :width].T + dense @ coef[:, width:].T + intercept
    return np.asarray(scores, dtype=np.float64)


def _probabilities(spec: TaskSpec, logits: Floats) -> Floats:
    """(rows, labels) probabilities in label order, as the trained scorer publishes them (no offsets)."""
    if spec.positive is not None:
        positive = output_probabilities(logits, None)[0]
        return np.column_stack([1.0 - positive, positive])
    return np.column_stack(output_probabilities(logits, ONE_VS_REST))


def _decide(proba: Floats, decision: Mapping[str, Any]) -> Ints:
    """Predicted label positions from probabilities (columns in label order) and a decision rule."""
    if "threshold" in decision:
        return (proba[:, 1] >= decision["threshold"]).astype(np.int64)
    scores = np.log(np.clip(proba, 1e-12, 1.0)) + np.asarray(decision["offsets"])
    return np.asarray(scores.argmax(axis=1), dtype=np.int64)


def _choose_decision(task: str, gold: Ints, proba: Floats) -> tuple[float, dict[str, Any]]:
    """The threshold (binary) or class offsets (multiclass) maximising the task's metric."""
    if TASKS[task].positive is not None:
        candidates: list[dict[str, Any]] = [{"threshold": t} for t in _THRESHOLDS]
        # Ties go to the threshold nearest 0.5.
        candidates.sort(key=lambda d: abs(d["threshold"] - 0.5))
    else:
        candidates = [{"offsets": [neg, 0.0, pos]} for neg in _OFFSETS for pos in _OFFSETS]
        candidates.sort(key=lambda d: abs(d["offsets"][0]) + abs(d["offsets"][2]))
    best_value, best = -1.0, candidates[0]
    for candidate in candidates:
        value = task_metric(task, gold, _decide(proba, candidate))
        if value > best_value + 1e-12:
            best_value, best = value, candidate
    return best_value, best


def cross_fold_predictions(
    task: str, gold: Ints, proba: Mapping[float, Floats], folds: Sequence[tuple[Ints, Ints]]
) -> Ints:
    """Each fold's rows decided with the C and decision rule chosen on the other folds' out-of-fold rows."""
    predicted = np.zeros(len(gold), dtype=np.int64)
    for fold_train, fold_test in folds:
        best_c, decision, _ = _choose(task, gold[fold_train], {c: p[fold_train] for c, p in proba.items()})
        predicted[fold_test] = _decide(proba[best_c][fold_test], decision)
    return predicted


def _choose(
    task: str, gold: Ints, proba: Mapping[float, Floats]
) -> tuple[float, dict[str, Any], dict[float, float]]:
    """The best C (ties: the smaller) and its decision rule, with the best metric value per C."""
    by_c = {c: _choose_decision(task, gold, p) for c, p in proba.items()}
    best_c = max(by_c, key=lambda c: (round(by_c[c][0], 6), -c))
    return best_c, by_c[best_c][1], {c: value for c, (value, _) in by_c.items()}


def task_metric(task: str, gold: Ints, predicted: Ints) -> float:
    """The task's headline metric (as `moderation.evaluate` computes it), from label positions."""
    labels = len(TASKS[task].labels)
    confusion = np.bincount(gold * labels + predicted, minlength=labels * labels).reshape(labels, labels)
    true_positive = np.diag(confusion).astype(np.float64)
    support = confusion.sum(axis=1)
    recall = np.divide(true_positive, support, out=np.zeros(labels), where=support > 0)
    if METRICS[task] == "macro_recall":
        return float(recall.mean())
    predicted_count = confusion.sum(axis=0)
    precision = np.divide(true_positive, predicted_count, out=np.zeros(labels), where=predicted_count > 0)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros(labels), where=total > 0)
    if METRICS[task] == "f1":
        return float(f1[TASKS[task].labels.index(str(TASKS[task].positive))])
    return float(f1.mean())


def _evaluation(task: str, gold: Ints, predicted: Ints) -> Evaluation:
    """The full evaluation of predicted label positions."""
    labels = TASKS[task].labels
    return evaluate(task, [labels[i] for i in gold], [labels[i] for i in predicted])


def _standardisation(raw: Floats, weight: float) -> tuple[Floats, Floats]:
    """Per dense signal: the mean and the scale (std / weight; constant signals get std 1)."""
    mean = raw.mean(axis=0)
    std = raw.std(axis=0)
    std[std < 1e-9] = 1.0
    return mean, std / weight


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


def _npy(array: Floats) -> bytes:
    """The .npy bytes of a float64 array (never pickled)."""
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array, dtype=np.float64), allow_pickle=False)
    return buffer.getvalue()


def _file_entry(name: str, files: Mapping[str, bytes]) -> dict[str, str]:
    """The manifest entry of a file: its name and sha256."""
    return {"file": name, "sha256": hashlib.sha256(files[name]).hexdigest()}
