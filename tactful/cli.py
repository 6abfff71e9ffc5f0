"""The `tactful` command line."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, TextIO

from tactful.cli_policy import add_policy_commands
from tactful.cli_promises import add_promise_commands
from tactful.cli_stats import add_stats_commands
from tactful.cli_users import add_user_commands
from tactful.errors import ConfigurationError
from tactful.labels import QUEUE_LABELS, LabelTask
from tactful.settings import Settings, load_settings

if TYPE_CHECKING:
    from moderation.classifier import Moderator

log = logging.getLogger("tactful")


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(args.config)


def cmd_init(args: argparse.Namespace) -> int:
    """Write a starter config and policy into a directory."""
    from tactful.scaffold import write_scaffold

    created = write_scaffold(Path(args.dir), force=args.force)
    for path in created:
        print(f"created {path}")
    print(f"next: cd {args.dir}, set the secrets of the platforms you enable (TACTFUL_X__* ...),")
    print("      tactful user add YOUR_NAME --role admin, then tactful run")
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    """Apply database migrations."""
    from storage.db import make_engine
    from storage.migrate import upgrade

    settings = _settings(args)
    engine = make_engine(settings.storage.url)
    upgrade(engine)
    engine.dispose()
    print("database is up to date")
    return 0


RUN_ROLES = ("listener", "worker", "web")  # tactful.service.ROLES, without importing the service here


def _roles(values: list[str] | None) -> frozenset[str]:
    """The roles `--role` names (repeated or comma-separated; ``all`` or none given: every role)."""
    names = {name.strip().lower() for value in values or ["all"] for name in value.split(",") if name.strip()}
    if not names or "all" in names:
        return frozenset(RUN_ROLES)
    unknown = names - set(RUN_ROLES)
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown role {', '.join(sorted(unknown))} (choose from {', '.join(RUN_ROLES)}, all)"
        )
    return frozenset(names)


def cmd_run(args: argparse.Namespace) -> int:
    """Run the service (the stages of its `--role`s) until SIGINT or SIGTERM."""
    from tactful.outages import wait_for_database
    from tactful.service import ServiceRunner, build_service

    try:
        roles = _roles(args.role)
    except argparse.ArgumentTypeError as exc:
        print(f"tactful run: {exc}", file=sys.stderr)
        return 2
    settings = _settings(args)
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("received signal %d, shutting down", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if not wait_for_database(settings.storage.url, stop):
        return 0  # stopped while waiting for the database
    service = build_service(settings)
    runner = ServiceRunner(service, roles)
    runner.start()
    platforms = ", ".join(sorted({c.listener.platform.value for c in service.coordinators})) or "none"
    log.info(
        "tactful running (roles: %s; platforms: %s; policy %s; process %s)",
        ", ".join(sorted(roles)),
        platforms,
        service.policy.current().version,
        service.holder,
    )
    stop.wait()
    runner.stop()
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Run the whole system against the local simulators."""
    from tactful.demo import run_demo

    return run_demo(duration=args.duration, speed=args.speed, keep=args.keep)


def cmd_classify(args: argparse.Namespace) -> int:
    """Classify JSON Lines texts and print one verdict per line."""
    from moderation.classify_io import classify_stream

    moderator = _moderator(args.model)
    source: TextIO
    if args.file == "-":
        source = sys.stdin
        summary = classify_stream(source, moderator, sys.stdout, sys.stderr, batch_size=args.batch_size)
    else:
        with open(args.file, encoding="utf-8") as source:
            summary = classify_stream(source, moderator, sys.stdout, sys.stderr, batch_size=args.batch_size)
    return 1 if summary.errors else 0


def _moderator(model_dir: str | None) -> Moderator:
    """The default moderator, or one using the trained models in `model_dir`."""
    from moderation.classifier import Moderator

    if model_dir is None:
        return Moderator()
    from moderation.trained import load_models

    return Moderator(trained=load_models(model_dir))


def cmd_train(args: argparse.Namespace) -> int:
    """Fit the trained models from labelled JSON Lines files into a model directory."""
    from moderation.features import FeatureParams
    from moderation.tasks import LabelledDataError
    from moderation.training import TrainingError, TrainOptions, train

    files = {
        task: path
        for task, path in (
            ("complaint", args.complaints),
            ("offensive", args.offensive),
            ("sentiment", args.sentiment),
        )
        if path
    }
    try:
        options = TrainOptions(
            params=FeatureParams(
                (args.word_ngrams[0], args.word_ngrams[1]), (args.char_ngrams[0], args.char_ngrams[1])
            ),
            min_df=args.min_df,
            c_grid=tuple(args.c),
            folds=args.folds,
            holdout=args.holdout,
        )
        manifest = train(args.out, files, options, force=args.force, progress=lambda line: print(line))
    except (ValueError, TrainingError, LabelledDataError) as exc:
        print(f"tactful train: {exc}", file=sys.stderr)
        return 2
    for task, entry in manifest["tasks"].items():
        cv, held = entry["cv"], entry["held_out"]
        line = f"{task}: C {cv['C']:g}, CV {cv['metric']} {cv['value']:.3f}"
        if held:
            line += f", held-out {held['metric']} {held['value']:.3f} ({held['rows']} rows)"
        print(line)
    print(f"model written to {args.out}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    """Measure the classifier (default or trained) on a labelled JSON Lines file."""
    import time

    from moderation.evaluate import evaluate, false_troll_rate, format_report, predicted_labels
    from moderation.tasks import LabelledDataError, read_labelled, split_holdout

    try:
        data = read_labelled(args.file, args.task)
        if args.holdout:
            data = data.subset(split_holdout(data, args.holdout)[1])
    except (ValueError, LabelledDataError) as exc:
        print(f"tactful eval: {exc}", file=sys.stderr)
        return 2
    moderator = _moderator(args.model)
    texts = list(data.texts)
    started = time.perf_counter()
    verdicts = []
    for start in range(0, len(texts), args.batch_size):
        verdicts.extend(moderator.classify_texts(texts[start : start + args.batch_size]))
    elapsed = time.perf_counter() - started
    gold = list(data.labels)
    evaluation = evaluate(
        args.task,
        gold,
        predicted_labels(args.task, verdicts),
        false_troll_rate=false_troll_rate(gold, verdicts) if args.task == "complaint" else None,
        texts_per_second=len(texts) / elapsed if elapsed > 0 else None,
    )
    if args.json:
        json.dump({"model": moderator.model, **evaluation.to_json()}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(f"model {moderator.model}")
        print(format_report(evaluation))
    return 0


def cmd_queue_list(args: argparse.Namespace) -> int:
    """Show the review queue."""
    from storage.db import make_engine
    from storage.migrate import upgrade
    from storage.queue import list_queue

    settings = _settings(args)
    engine = make_engine(settings.storage.url)
    upgrade(engine)
    statuses = tuple(args.status.split(",")) if args.status else ("open", "claimed")
    with engine.connect() as conn:
        entries = list_queue(conn, statuses=statuses, limit=args.limit)
    engine.dispose()
    if args.json:
        json.dump([e.to_json() for e in entries], sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
        return 0
    if not entries:
        print("the review queue is empty")
        return 0
    for e in entries:
        text = " ".join(e.text.split())
        print(
            f"#{e.id:<5} p{e.priority:<3} {e.platform:<8} {e.category or '-':<9} @{e.author or '?'}: {text[:70]}"
        )
        print(f"       {e.reason}")
    return 0


def _actor(args: argparse.Namespace) -> str:
    """Return --by, else the OS user name."""
    if args.by:
        return str(args.by)
    import getpass

    try:
        return getpass.getuser()
    except (OSError, KeyError) as exc:
        raise ConfigurationError("cannot tell who you are from the OS; pass --by NAME") from exc


def _item_id(value: str) -> int:
    """Parse a review item id as shown by `queue list` (`12` or `#12`)."""
    try:
        return int(value.removeprefix("#"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a review item id: {value!r}") from None


def _since(value: str) -> datetime:
    """Parse --since (ISO date or date-time; UTC unless it says otherwise)."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date: {value!r} (e.g. 2026-01-05)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def cmd_queue_action(args: argparse.Namespace) -> int:
    """Label, resolve or reopen a review item as the person running the command."""
    from storage.db import make_engine
    from storage.migrate import upgrade
    from storage.queue_actions import QueueActionError, label_item, reopen_item, resolve_item
    from tactful.clock import SystemClock

    actor = _actor(args)
    engine = make_engine(_settings(args).storage.url)
    upgrade(engine)
    now = SystemClock().now()
    try:
        if args.queue_command == "label":
            for applied in label_item(engine, args.item, args.labels, actor, now):
                was = ""
                if applied.previous_label:
                    was = f" (was {applied.previous_label} by {applied.previous_actor})"
                print(f"#{args.item} {applied.message_ref}: {applied.task} = {applied.label}{was}")
        else:
            action = resolve_item if args.queue_command == "resolve" else reopen_item
            state = action(engine, args.item, actor, now, note=args.note)
            print(f"#{state.id} {state.status} by {actor}")
    except (QueueActionError, ValueError) as exc:
        print(f"tactful: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    return 0


def cmd_export_labels(args: argparse.Namespace) -> int:
    """Write people's labels of one task as a JSON Lines training file."""
    from storage.db import make_engine
    from storage.labels import export_labels, write_jsonl, write_training_file
    from storage.migrate import upgrade

    engine = make_engine(_settings(args).storage.url)
    upgrade(engine)
    with engine.connect() as conn:
        examples = export_labels(conn, LabelTask(args.task), since=args.since)
    engine.dispose()
    if args.out == "-":
        count = write_jsonl(examples, sys.stdout)
    else:
        count = write_training_file(Path(args.out), examples)
    print(f"exported {count} {args.task} labels to {args.out}", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser for every subcommand."""
    parser = argparse.ArgumentParser(prog="tactful", description="Answer first, tactfully.")
    parser.add_argument("--config", help="path to tactful.toml (default: $TACTFUL_CONFIG or ./tactful.toml)")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("init", help="write a starter tactful.toml and policy into DIR")
    p.add_argument("dir")
    p.add_argument("--force", action="store_true", help="overwrite existing files")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("run", help="run the service")
    p.add_argument(
        "--role",
        action="append",
        metavar="ROLE",
        help="what this process does: listener (polling), worker (processing, sending, team chat), "
        "web (dashboard, webhooks) or all (the default); repeat or comma-separate (docs/deploy.md)",
    )
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("demo", help="run everything against local simulators with scripted traffic")
    p.add_argument("--duration", type=float, default=None, help="stop by itself after this many seconds")
    p.add_argument("--speed", type=float, default=1.0, help="traffic speed multiplier")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("classify", help="classify JSON Lines ({id, text}) from FILE or - (stdin)")
    p.add_argument("file")
    p.add_argument("--batch-size", type=int, default=2000)
    p.add_argument("--model", metavar="DIR", help="use the trained models in DIR (see tactful train)")
    p.set_defaults(func=cmd_classify)

    p = sub.add_parser("train", help="fit trained models from labelled JSON Lines ({id, text, label})")
    p.add_argument("--out", required=True, metavar="DIR", help="model directory to write")
    p.add_argument("--complaints", metavar="FILE", help="labels complaint / not_complaint")
    p.add_argument("--offensive", metavar="FILE", help="labels offensive / not_offensive")
    p.add_argument("--sentiment", metavar="FILE", help="labels negative / neutral / positive")
    p.add_argument(
        "--holdout",
        type=float,
        default=0.0,
        metavar="FRACTION",
        help="keep this deterministic share of each file out of training and report its figures",
    )
    p.add_argument("--folds", type=int, default=5, help="cross-validation folds (default 5)")
    p.add_argument(
        "--c", type=float, nargs="+", default=[1.0, 3.0, 10.0], help="regularisation values to try"
    )
    p.add_argument("--min-df", type=int, default=2, help="keep n-grams seen in at least this many texts")
    p.add_argument("--word-ngrams", type=int, nargs=2, default=[1, 2], metavar=("MIN", "MAX"))
    p.add_argument("--char-ngrams", type=int, nargs=2, default=[2, 5], metavar=("MIN", "MAX"))
    p.add_argument("--force", action="store_true", help="replace an existing model directory")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("eval", help="measure the classifier on a labelled JSON Lines file")
    p.add_argument("file")
    p.add_argument("--task", required=True, choices=["complaint", "offensive", "sentiment"])
    p.add_argument("--model", metavar="DIR", help="use the trained models in DIR")
    p.add_argument(
        "--holdout",
        type=float,
        default=0.0,
        metavar="FRACTION",
        help="measure only the rows `tactful train --holdout FRACTION` kept out",
    )
    p.add_argument("--batch-size", type=int, default=2000)
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.set_defaults(func=cmd_eval)

    queue = sub.add_parser("queue", help="the review queue").add_subparsers(
        dest="queue_command", required=True
    )
    p = queue.add_parser("list", help="list open review items by priority")
    p.add_argument("--json", action="store_true")
    p.add_argument("--limit", type=int, default=200)
    p.add_argument("--status", help="comma-separated statuses (default open,claimed)")
    p.set_defaults(func=cmd_queue_list)
    by_help = "who is acting (default: your OS user name)"
    p = queue.add_parser("label", help="label the message of review item ITEM, for training files")
    p.add_argument("item", type=_item_id, metavar="ITEM")
    p.add_argument(
        "--as",
        dest="labels",
        action="append",
        required=True,
        type=str.lower,
        choices=list(QUEUE_LABELS),
        metavar="LABEL",
        help=f"{'|'.join(QUEUE_LABELS)}; troll/not_troll are stored as offensive/not_offensive;"
        " repeat for several tasks",
    )
    p.add_argument("--by", metavar="NAME", help=by_help)
    p.set_defaults(func=cmd_queue_action)
    for name, text in (("resolve", "mark review item ITEM resolved"), ("reopen", "put a resolved item back")):
        p = queue.add_parser(name, help=text)
        p.add_argument("item", type=_item_id, metavar="ITEM")
        p.add_argument("--note", metavar="TEXT", help="why (kept with the item and in the audit log)")
        p.add_argument("--by", metavar="NAME", help=by_help)
        p.set_defaults(func=cmd_queue_action)

    p = sub.add_parser("export-labels", help="write people's queue labels of one task as JSON Lines")
    p.add_argument("--task", required=True, choices=[task.value for task in LabelTask])
    p.add_argument(
        "--out", required=True, metavar="FILE", help="{id, text, label} lines go here (- for stdout)"
    )
    p.add_argument(
        "--since", type=_since, metavar="DATE", help="only labels given from this ISO date on (UTC)"
    )
    p.set_defaults(func=cmd_export_labels)

    add_user_commands(sub)
    add_promise_commands(sub)
    add_stats_commands(sub)
    add_policy_commands(sub)

    db = sub.add_parser("db", help="database maintenance").add_subparsers(dest="db_command", required=True)
    p = db.add_parser("upgrade", help="apply migrations")
    p.set_defaults(func=cmd_db_upgrade)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `tactful` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        code: int = args.func(args)
    except ConfigurationError as exc:
        print(f"tactful: configuration error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0
    return code


if __name__ == "__main__":
    sys.exit(main())
