"""Training on a tiny hand-written fixture, the model directory format, loading it, and using it."""

import hashlib
import io
import json
import math
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from moderation.classifier import Moderator, default_scorers
from moderation.evaluate import evaluate
from moderation.features import Featurizer
from moderation.scorer import Scorer
from moderation.tasks import TASKS, LabelledDataError, read_labelled, split_holdout
from moderation.trained import ModelDirError, TrainedScorer, load_models
from moderation.training import (
    TrainingError,
    TrainOptions,
    cross_fold_predictions,
    nb_ratios,
    task_metric,
    train,
)
from moderation.verdict import Category, Sentiment
from tactful.cli import main
from tactful.errors import ConfigurationError
from tactful.scoring import build_moderator
from tactful.settings import load_settings

FIXTURES = Path(__file__).parent / "fixtures" / "moderation"
FILES = {
    "complaint": FIXTURES / "train_complaints.jsonl",
    "offensive": FIXTURES / "train_offensive.jsonl",
    "sentiment": FIXTURES / "train_sentiment.jsonl",
}
OPTIONS = TrainOptions(folds=3, c_grid=(1.0, 10.0), min_df=1)
CREATED = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("models") / "tiny"
    train(out, FILES, OPTIONS, created_at=CREATED)
    return out


@pytest.fixture
def model_copy(model_dir: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "copy"
    shutil.copytree(model_dir, copy)
    return copy


def read_manifest(directory: Path) -> dict:
    return json.loads((directory / "manifest.json").read_text("utf-8"))


def write_manifest(directory: Path, manifest: dict) -> None:
    (directory / "manifest.json").write_text(json.dumps(manifest), "utf-8")


def test_model_dir_holds_only_json_and_plain_arrays(model_dir: Path):
    names = sorted(path.name for path in model_dir.iterdir())
    assert names == [
        "complaint.coef.npy",
        "complaint.intercept.npy",
        "manifest.json",
        "offensive.coef.npy",
        "offensive.intercept.npy",
        "sentiment.coef.npy",
        "sentiment.intercept.npy",
        "vocabulary.json",
    ]
    for name in names:
        if name.endswith(".npy"):
            assert np.load(model_dir / name, allow_pickle=False).dtype == np.float64


def test_manifest_records_format_features_training_files_and_cv(model_dir: Path):
    manifest = read_manifest(model_dir)
    assert manifest["format"] == "tactful-model"
    assert manifest["format_version"] == 2
    assert manifest["created_at"] == "2026-01-05T09:00:00Z"
    assert manifest["features"]["word_ngrams"] == [1, 2]
    assert manifest["features"]["char_ngrams"] == [2, 5]
    assert manifest["features"]["negation"] is True
    assert manifest["features"]["min_df"] == 1
    assert manifest["model"]["weighting"].startswith("naive Bayes log-count ratios")
    assert set(manifest["tasks"]) == {"complaint", "offensive", "sentiment"}
    complaint = manifest["tasks"]["complaint"]
    assert complaint["labels"] == ["not_complaint", "complaint"]
    assert 0 < complaint["threshold"] < 1
    source = FILES["complaint"]
    assert complaint["training"]["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    assert complaint["training"]["rows"] == 40
    assert complaint["training"]["label_counts"] == {"complaint": 20, "not_complaint": 20}
    assert complaint["cv"]["folds"] == 3
    assert complaint["cv"]["C"] in (1.0, 10.0)
    assert set(complaint["cv"]["value_by_C"]) == {"1", "10"}
    assert 0 <= complaint["cv"]["value"] <= 1
    # The optimistic figure is the best value over C, judged on the predictions it was chosen on.
    assert complaint["cv"]["value_optimistic"] == max(complaint["cv"]["value_by_C"].values())
    assert "other folds" in complaint["cv"]["selection"]
    assert complaint["held_out"] is None
    assert "combine" not in complaint
    sentiment = manifest["tasks"]["sentiment"]
    assert sentiment["combine"] == "one_vs_rest"
    assert len(sentiment["offsets"]) == 3
    assert sentiment["cv"]["metric"] == "macro_recall"
    assert "sentiment_compound" in sentiment["dense"]["signals"]


def test_loading_round_trips_the_directory(model_dir: Path):
    models = load_models(model_dir)
    raw = (model_dir / "manifest.json").read_bytes()
    assert models.name == "trained-" + hashlib.sha256(raw).hexdigest()[:12]
    assert set(models.tasks) == {"complaint", "offensive", "sentiment"}
    vocabulary = json.loads((model_dir / "vocabulary.json").read_text("utf-8"))
    assert models.featurizer.vocabulary == tuple(vocabulary)
    assert models.tasks["complaint"].threshold == read_manifest(model_dir)["tasks"]["complaint"]["threshold"]
    assert models.featurizer.params.negation is True
    assert models.tasks["sentiment"].combine == "one_vs_rest"
    assert models.tasks["sentiment"].offsets == tuple(
        read_manifest(model_dir)["tasks"]["sentiment"]["offsets"]
    )


def test_trained_scorer_computes_the_saved_linear_models(model_dir: Path):
    """Recompute the probabilities from the arrays with the plain sparse featurizer."""
    models = load_models(model_dir)
    manifest = read_manifest(model_dir)
    texts = ["My parcel never arrived and support ignores me", "you are an idiot", "Lovely day, thanks!", ""]
    scored = TrainedScorer(models, default_scorers()).score(texts)
    featurizer: Featurizer = models.featurizer
    rows = featurizer.transform(texts)
    for task in ("complaint", "offensive", "sentiment"):
        entry = manifest["tasks"][task]
        coef = np.load(model_dir / entry["coef"]["file"], allow_pickle=False)
        intercept = np.load(model_dir / entry["intercept"]["file"], allow_pickle=False)
        dense = entry["dense"]
        for i in range(len(texts)):
            z = intercept.copy()
            for j in range(rows.indptr[i], rows.indptr[i + 1]):
                z += rows.values[j] * coef[:, rows.indices[j]]
            for k, name in enumerate(dense["signals"]):
                value = (scored[name][i] - dense["mean"][k]) / dense["scale"][k]
                z += value * coef[:, featurizer.size + k]
            if task == "sentiment":
                # One-vs-rest: each class's own probability, times exp(offset), normalised.
                own = 1 / (1 + np.exp(-z)) * np.exp(np.asarray(entry["offsets"]))
                expected = own / own.sum()
                got = [
                    scored[f"trained_sentiment_{label}"][i] for label in ("negative", "neutral", "positive")
                ]
                np.testing.assert_allclose(got, expected, rtol=1e-9)
            else:
                t = entry["threshold"]
                raw = 1 / (1 + math.exp(-z[0]))
                shifted = scored[f"trained_{task}"][i]
                # The threshold chosen by CV sits at 0.5 of the published signal.
                assert (shifted >= 0.5) == (raw >= t)
                assert shifted == pytest.approx(1 / (1 + math.exp(-(z[0] - math.log(t / (1 - t))))), rel=1e-9)


def test_trained_moderator_gives_sensible_explained_verdicts(model_dir: Path):
    models = load_models(model_dir)
    moderator = Moderator(trained=models)
    assert moderator.model == models.name
    complaint, praise, insult, sad = moderator.classify_texts(
        [
            "My package never arrived and nobody answers, please refund me",
            "Thank you for the lovely help, all sorted now",
            "shut up you pathetic idiot",
            "Awful news today, so sad and miserable",
        ]
    )
    assert complaint.category is Category.COMPLAINT
    assert complaint.complaint >= 0.5
    assert "trained complaint model" in complaint.explanation
    assert complaint.model == models.name
    assert praise.category is not Category.COMPLAINT and praise.complaint < 0.5
    assert insult.toxicity >= 0.5 > praise.toxicity
    assert f"trained offensive model {insult.toxicity:.2f}" in insult.explanation
    assert praise.sentiment is Sentiment.POSITIVE
    assert sad.sentiment is Sentiment.NEGATIVE
    assert "trained sentiment model negative" in sad.explanation
    assert insult.toxicity == round(insult.signals["trained_offensive"], 4)


def test_trained_verdicts_do_not_depend_on_the_batch(model_dir: Path):
    moderator = Moderator(trained=load_models(model_dir))
    texts = [
        json.loads(line)["text"] for path in FILES.values() for line in path.read_text("utf-8").splitlines()
    ]
    texts += ["I don't like it, not at all", "not bad! never again", "can't wait :)", ""]
    together = moderator.classify_texts(texts)
    alone = [moderator.classify_texts([text])[0] for text in texts]
    assert together == alone
    scorer = TrainedScorer(load_models(model_dir), default_scorers())
    batch = scorer.score(texts)
    fresh = TrainedScorer(load_models(model_dir), default_scorers())  # an empty per-word cache
    for i in reversed(range(len(texts))):
        single = fresh.score([texts[i]])
        assert {signal: values[0] for signal, values in single.items()} == {
            signal: values[i] for signal, values in batch.items()
        }
    assert isinstance(scorer, Scorer)
    empty = scorer.score([])
    assert empty["trained_complaint"] == [] and empty["sentiment_compound"] == []


def test_a_model_with_only_some_tasks_leaves_the_others_to_the_defaults(tmp_path: Path):
    out = tmp_path / "complaints-only"
    train(out, {"complaint": FILES["complaint"]}, OPTIONS, created_at=CREATED)
    verdict = Moderator(trained=load_models(out)).classify_texts(["shut up you pathetic idiot"])[0]
    assert "trained_offensive" not in verdict.signals
    assert verdict.toxicity == round(verdict.signals["toxicity"], 4)
    assert "trained complaint model" in verdict.explanation


def _edit(path: Path, manifest_change) -> None:
    manifest = read_manifest(path)
    manifest_change(manifest)
    write_manifest(path, manifest)


def _replace_array(
    directory: Path, task: str, part: str, array: np.ndarray, allow_pickle: bool = False
) -> None:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    name = f"{task}.{part}.npy"
    (directory / name).write_bytes(buffer.getvalue())
    _edit(
        directory,
        lambda m: m["tasks"][task][part].update(sha256=hashlib.sha256(buffer.getvalue()).hexdigest()),
    )


def _flip_last_byte(path: Path) -> bytes:
    data = path.read_bytes()
    return data[:-1] + bytes([data[-1] ^ 0xFF])


CORRUPTIONS = [
    (lambda d: (d / "manifest.json").write_text("{not json"), "manifest.json: not valid JSON"),
    (
        lambda d: _edit(d, lambda m: m.update(format_version=99)),
        "manifest.json: format_version is 99, this tactful reads 1 and 2",
    ),
    (lambda d: _edit(d, lambda m: m.update(format_version=True)), "manifest.json: format_version is True"),
    (
        lambda d: _edit(d, lambda m: m["features"].pop("negation")),
        "manifest.json: features negation must be true or false",
    ),
    (
        lambda d: _edit(d, lambda m: m["tasks"]["sentiment"].update(combine="argmax")),
        "manifest.json: tasks.sentiment.combine must be 'softmax' or 'one_vs_rest'",
    ),
    (
        lambda d: _edit(d, lambda m: m["tasks"]["sentiment"].pop("offsets")),
        "manifest.json: tasks.sentiment.offsets must be a list of 3 numbers",
    ),
    (lambda d: _edit(d, lambda m: m.update(format="something")), "manifest.json: format must be"),
    (
        lambda d: _edit(d, lambda m: m["tasks"]["complaint"].update(threshold=1.5)),
        "manifest.json: tasks.complaint.threshold must be between 0 and 1",
    ),
    (
        lambda d: _edit(d, lambda m: m["tasks"]["complaint"].pop("threshold")),
        "manifest.json: tasks.complaint.threshold must be a finite number",
    ),
    (
        lambda d: _edit(d, lambda m: m["tasks"]["complaint"]["coef"].update(file="../elsewhere.npy")),
        "manifest.json: tasks.complaint.coef.file must be a plain file name",
    ),
    (
        lambda d: _edit(d, lambda m: m["tasks"]["sentiment"].update(labels=["bad", "good"])),
        "tasks.sentiment.labels must be ['negative', 'neutral', 'positive']",
    ),
    (lambda d: _edit(d, lambda m: m["tasks"].update(sarcasm={})), "tasks.sarcasm unknown task"),
    (lambda d: _edit(d, lambda m: m.update(tasks={})), "manifest.json: tasks names no task"),
    (
        lambda d: _edit(d, lambda m: m["features"].update(char_ngrams=[5, 2])),
        "manifest.json: features char_ngrams must be",
    ),
    (
        lambda d: _edit(d, lambda m: m["tasks"]["offensive"]["dense"].update(scale=[1.0])),
        "tasks.offensive.dense.scale must be a list of",
    ),
    (
        lambda d: (d / "offensive.coef.npy").write_bytes(_flip_last_byte(d / "offensive.coef.npy")),
        "offensive.coef.npy: sha256 does not match manifest.json tasks.offensive.coef.sha256",
    ),
    (lambda d: (d / "vocabulary.json").unlink(), "vocabulary.json: cannot read"),
    (
        lambda d: _replace_array(d, "complaint", "intercept", np.array([{"x": 1}], dtype=object), True),
        "complaint.intercept.npy: not a plain numpy array",
    ),
    (
        lambda d: _replace_array(d, "complaint", "intercept", np.zeros(3)),
        "tasks.complaint.intercept has shape [3], expected [1]",
    ),
    (
        lambda d: _replace_array(d, "complaint", "coef", np.zeros((1, 3))),
        "tasks.complaint.coef has shape [1, 3], expected [1, ",
    ),
    (
        lambda d: _replace_array(d, "complaint", "intercept", np.array([np.nan])),
        "complaint.intercept.npy: holds values that are not finite",
    ),
]


@pytest.mark.parametrize(("corrupt", "message"), CORRUPTIONS)
def test_a_corrupt_model_dir_is_refused_naming_file_and_field(model_copy: Path, corrupt, message):
    corrupt(model_copy)
    with pytest.raises(ModelDirError) as error:
        load_models(model_copy)
    assert message in str(error.value)


def test_a_model_reading_a_signal_no_scorer_produces_is_refused(model_copy: Path):
    def rename(manifest: dict) -> None:
        manifest["tasks"]["complaint"]["dense"]["signals"][0] = "vanished_signal"

    _edit(model_copy, rename)
    with pytest.raises(ModelDirError, match="reads signal 'vanished_signal'"):
        Moderator(trained=load_models(model_copy))


def test_not_a_directory(tmp_path: Path):
    with pytest.raises(ModelDirError, match="not a directory"):
        load_models(tmp_path / "absent")


def test_classify_with_model_uses_it(model_dir: Path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO('{"id": 1, "text": "my order never arrived, refund me"}\n'))
    assert main(["classify", "--model", str(model_dir), "-"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["id"] == 1
    assert record["category"] == "complaint"
    assert "trained complaint model" in record["explanation"]


def test_classify_with_a_corrupt_model_is_a_clear_error(model_copy: Path, monkeypatch, capsys):
    _edit(model_copy, lambda m: m.update(format_version="1"))
    monkeypatch.setattr(sys, "stdin", io.StringIO('{"id": 1, "text": "hello"}\n'))
    assert main(["classify", "--model", str(model_copy), "-"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert (
        f"{model_copy / 'manifest.json'}: format_version is '1', this tactful reads 1 and 2" in captured.err
    )


def test_train_command_writes_and_protects_model_dirs(tmp_path: Path, capsys):
    out = tmp_path / "model"
    args = ["train", "--out", str(out), "--complaints", str(FILES["complaint"]), "--folds", "3", "--c", "1"]
    assert main([*args, "--min-df", "1"]) == 0
    printed = capsys.readouterr().out
    assert "complaint: C 1, CV f1 " in printed
    assert f"model written to {out}" in printed
    assert load_models(out).tasks.keys() == {"complaint"}
    assert main(args) == 2
    assert "already exists there (use --force to replace it)" in capsys.readouterr().err
    assert main([*args, "--force"]) == 0
    assert read_manifest(out)["features"]["min_df"] == 2
    assert [path.name for path in tmp_path.iterdir()] == ["model"]  # no staging or old copies left
    other = tmp_path / "notes"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    assert main(["train", "--out", str(other), "--complaints", str(FILES["complaint"]), "--force"]) == 2
    assert "is not empty and is not a model directory" in capsys.readouterr().err
    assert (other / "keep.txt").read_text() == "mine"
    assert main(["train", "--out", str(tmp_path / "none")]) == 2
    assert "give at least one labelled file" in capsys.readouterr().err


def test_train_with_holdout_reports_held_out_figures(tmp_path: Path):
    manifest = train(
        tmp_path / "m",
        {"complaint": FILES["complaint"]},
        TrainOptions(folds=3, c_grid=(1.0,), holdout=0.25, min_df=1),
    )
    entry = manifest["tasks"]["complaint"]
    assert entry["training"]["held_out_rows"] == 10
    assert entry["training"]["training_rows"] == 30
    assert entry["held_out"]["rows"] == 10
    assert 0 <= entry["held_out"]["value"] <= 1


def test_training_refuses_too_few_rows_per_label(tmp_path: Path):
    small = tmp_path / "small.jsonl"
    lines = FILES["complaint"].read_text("utf-8").splitlines()
    small.write_text("\n".join(lines[:3] + lines[-3:]) + "\n", "utf-8")
    with pytest.raises(TrainingError, match="needs at least 5 training rows"):
        train(tmp_path / "m", {"complaint": small})


def test_holdout_split_is_stratified_and_independent_of_file_order(tmp_path: Path):
    data = read_labelled(FILES["sentiment"], "sentiment")
    train_rows, held = split_holdout(data, 0.2)
    assert sorted(train_rows + held) == list(range(30))
    assert sorted(data.labels[i] for i in held) == [
        "negative",
        "negative",
        "neutral",
        "neutral",
        "positive",
        "positive",
    ]
    reversed_file = tmp_path / "reversed.jsonl"
    reversed_file.write_text("\n".join(reversed(FILES["sentiment"].read_text("utf-8").splitlines())) + "\n")
    other = read_labelled(reversed_file, "sentiment")
    assert {other.ids[i] for i in split_holdout(other, 0.2)[1]} == {data.ids[i] for i in held}


def test_labelled_files_are_checked_line_by_line(tmp_path: Path):
    path = tmp_path / "x.jsonl"
    path.write_text(
        '{"id": "a", "text": "t", "label": "positive"}\n\n{"id": "a", "text": "u", "label": "neutral"}\n'
    )
    with pytest.raises(LabelledDataError, match=r"x.jsonl: line 3: id 'a' repeats an earlier line"):
        read_labelled(path, "sentiment")
    path.write_text('{"id": "a", "text": 3, "label": "positive"}\n')
    with pytest.raises(LabelledDataError, match=r'line 1: "text" must be a string'):
        read_labelled(path, "sentiment")
    path.write_text("[1]\n")
    with pytest.raises(LabelledDataError, match="line 1: expected a JSON object"):
        read_labelled(path, "sentiment")


def test_settings_model_dir_is_resolved_and_used(model_dir: Path, tmp_path: Path, monkeypatch):
    for name in list(__import__("os").environ):
        if name.startswith("TACTFUL_"):
            monkeypatch.delenv(name)
    config = tmp_path / "tactful.toml"
    shutil.copytree(model_dir, tmp_path / "models" / "v1")
    config.write_text('[moderation]\nmodel_dir = "models/v1"\n')
    settings = load_settings(config)
    assert settings.moderation.model_dir == (tmp_path / "models" / "v1").resolve()
    assert build_moderator(settings).model.startswith("trained-")
    config.write_text('[moderation]\nmodel_dir = "models/none"\n')
    with pytest.raises(
        ConfigurationError, match=r"\[moderation\] model_dir: model dir .*none: not a directory"
    ):
        build_moderator(load_settings(config))
    config.write_text("")
    assert build_moderator(load_settings(config)).model == "default-v1"


def test_a_bad_model_dir_stops_the_service_at_start_up(tmp_path: Path, sqlite_url: str):
    from tactful.service import build_service
    from tactful.settings import ModerationSettings, Settings, StorageSettings

    settings = Settings(
        storage=StorageSettings(url=sqlite_url), moderation=ModerationSettings(model_dir=tmp_path / "absent")
    )
    with pytest.raises(
        ConfigurationError, match=r"\[moderation\] model_dir: model dir .*absent: not a directory"
    ):
        build_service(settings)


@pytest.mark.slow
def test_worker_processes_classify_with_the_configured_model(model_dir: Path, sqlite_url: str, clock):
    import time

    from sqlalchemy import select

    from storage import tables as t
    from storage.db import make_engine
    from storage.ingest import store_fetch
    from storage.migrate import upgrade
    from tactful.settings import ModerationSettings, ProcessingSettings, Settings, StorageSettings
    from tactful.workers import ProcessingWorkers
    from tests.factories import make_message

    db = make_engine(sqlite_url)
    upgrade(db)
    message = make_message("1", "@acme my order never arrived, refund me", thread="t1")
    store_fetch(db, "x:mentions:1", [message], "1", [], clock.now())
    settings = Settings(
        storage=StorageSettings(url=sqlite_url),
        processing=ProcessingSettings(batch_size=10, interval_seconds=0.05, workers=1),
        moderation=ModerationSettings(model_dir=model_dir),
    )
    workers = ProcessingWorkers(settings, 1)
    workers.start()
    try:
        assert workers.wait_ready(60)
        deadline = time.monotonic() + 60
        models: list[str] = []
        while not models and time.monotonic() < deadline:
            with db.connect() as conn:
                models = list(conn.execute(select(t.verdicts.c.model)).scalars())
            time.sleep(0.05)
    finally:
        workers.stop()
        db.dispose()
    assert models == [load_models(model_dir).name]


def test_format_1_model_dirs_are_still_read_as_written(model_copy: Path):
    """Format 1: no negation marking, softmax over the sentiment scores plus offsets."""

    def downgrade(manifest: dict) -> None:
        manifest["format_version"] = 1
        del manifest["features"]["negation"]
        del manifest["tasks"]["sentiment"]["combine"]

    _edit(model_copy, downgrade)
    models = load_models(model_copy)
    assert models.featurizer.params.negation is False
    assert models.tasks["sentiment"].combine == "softmax"
    manifest = read_manifest(model_copy)
    entry = manifest["tasks"]["sentiment"]
    coef = np.load(model_copy / entry["coef"]["file"], allow_pickle=False)
    intercept = np.load(model_copy / entry["intercept"]["file"], allow_pickle=False)
    text = "I don't like it at all"
    scored = TrainedScorer(models, default_scorers()).score([text])
    rows = models.featurizer.transform([text])
    z = intercept + np.asarray(entry["offsets"])
    for j in range(rows.indptr[0], rows.indptr[1]):
        z = z + rows.values[j] * coef[:, rows.indices[j]]
    for k, name in enumerate(entry["dense"]["signals"]):
        z = (
            z
            + (scored[name][0] - entry["dense"]["mean"][k])
            / entry["dense"]["scale"][k]
            * coef[:, models.featurizer.size + k]
        )
    expected = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
    got = [scored[f"trained_sentiment_{label}"][0] for label in ("negative", "neutral", "positive")]
    np.testing.assert_allclose(got, expected, rtol=1e-9)


def test_nb_ratios_are_log_ratios_of_smoothed_presence_shares():
    import scipy.sparse as sparse

    # Three texts, two columns; repeated counts only count once (presence).
    text = sparse.csr_matrix(np.array([[2.0, 0.0], [1.0, 1.0], [0.0, 3.0]]))
    positive = np.array([True, True, False])
    ratios = nb_ratios(text, positive, alpha=1.0)
    p = np.array([1 + 2, 1 + 1]) / 5  # positive rows: column 0 in 2 texts, column 1 in 1
    q = np.array([1 + 0, 1 + 1]) / 3
    np.testing.assert_allclose(ratios, np.log(p / q), rtol=1e-12)


def test_nb_weighting_changes_the_model_and_none_is_accepted(tmp_path: Path):
    plain = train(
        tmp_path / "plain", {"complaint": FILES["complaint"]}, TrainOptions(folds=3, weighting="none")
    )
    assert plain["model"]["weighting"] == "none"
    weighted = train(tmp_path / "nb", {"complaint": FILES["complaint"]}, TrainOptions(folds=3))
    a = np.load(tmp_path / "plain" / "complaint.coef.npy", allow_pickle=False)
    b = np.load(tmp_path / "nb" / "complaint.coef.npy", allow_pickle=False)
    assert a.shape == b.shape and not np.allclose(a, b)
    assert weighted["model"]["weighting"].startswith("naive Bayes")
    with pytest.raises(TrainingError, match="weighting must be one of nb, none, got 'tfidf'"):
        train(tmp_path / "bad", {"complaint": FILES["complaint"]}, TrainOptions(weighting="tfidf"))
    with pytest.raises(TrainingError, match="nb_alpha must be positive"):
        train(tmp_path / "bad", {"complaint": FILES["complaint"]}, TrainOptions(nb_alpha=0.0))


@pytest.mark.parametrize("task", ["complaint", "offensive", "sentiment"])
def test_task_metric_equals_the_evaluation_figure(task: str):
    labels = TASKS[task].labels
    rng = np.random.default_rng(3)
    gold = rng.integers(0, len(labels), 200)
    for predicted in (rng.integers(0, len(labels), 200), np.zeros(200, dtype=np.int64), gold.copy()):
        expected = evaluate(task, [labels[i] for i in gold], [labels[i] for i in predicted])
        metric = {"complaint": "f1", "offensive": "macro_f1", "sentiment": "macro_recall"}[task]
        assert task_metric(task, gold, predicted) == pytest.approx(expected.metric(metric), abs=1e-12)


def test_cross_fold_selection_never_judges_a_fold_by_its_own_choice():
    """Fold A separates at any threshold in (0.1, 0.9]; fold B only in (0.2, 0.3].

    Chosen on A alone, the threshold nearest 0.5 (0.5) calls every row of B negative; chosen on all
    rows it would be in (0.2, 0.3] and get B right.
    """
    gold = np.array([1, 0, 1, 0, 1, 0, 1, 0])
    p = np.array([0.9, 0.1, 0.9, 0.1, 0.3, 0.2, 0.3, 0.2])
    proba = {1.0: np.column_stack([1 - p, p])}
    folds = [
        (np.array([4, 5, 6, 7]), np.array([0, 1, 2, 3])),
        (np.array([0, 1, 2, 3]), np.array([4, 5, 6, 7])),
    ]
    predicted = cross_fold_predictions("complaint", gold, proba, folds)
    assert predicted.tolist() == [1, 0, 1, 0, 0, 0, 0, 0]
