"""Pipeline throughput (classify -> decide -> store -> outbox on SQLite) against scoring alone."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select

from moderation.classifier import ModerationInput, Moderator
from moderation.pool import InlineModerator, ProcessModerator
from simulator.generate import generate_messages
from storage import tables as t
from storage.db import make_engine
from storage.ingest import store_fetch
from storage.migrate import upgrade
from tactful.clock import SystemClock
from tactful.domain import IncomingMessage
from tactful.policy_source import PolicySource
from tactful.processing import Processor

BATCH = 500


def run_pipeline_bench(count: int) -> dict[str, float]:
    """Measure scoring alone and the whole processing stage on the same messages; print the ratio."""
    messages = list(generate_messages(count))
    moderator = Moderator()
    moderator.classify([ModerationInput(m.text) for m in messages[:BATCH]])  # warm up models

    start = time.perf_counter()
    for i in range(0, count, BATCH):
        moderator.classify([ModerationInput(m.text, m.language_hint) for m in messages[i : i + BATCH]])
    scoring = count / (time.perf_counter() - start)

    sample = messages[:1000]
    start = time.perf_counter()
    for m in sample:
        moderator.classify([ModerationInput(m.text, m.language_hint)])
    naive = len(sample) / (time.perf_counter() - start)

    ingest, pipeline, processed, outbox, queued = _run_pipeline(messages, ProcessModerator())
    _, inline, _, _, _ = _run_pipeline(messages, InlineModerator(moderator))

    ratio = pipeline / scoring
    print(f"pipeline benchmark: {count} messages, batches of {BATCH}, SQLite (WAL)")
    print(f"  scoring alone (batched)          {scoring:10.0f} msg/s")
    print(f"  scoring one message per call     {naive:10.0f} msg/s   (not used; shown for contrast)")
    print(f"  ingest (store fetched messages)  {ingest:10.0f} msg/s")
    print(
        f"  pipeline classify->decide->store->outbox {pipeline:8.0f} msg/s  "
        f"({processed} processed, {outbox} outbox rows, {queued} review items; scoring in a child process)"
    )
    print(f"  same pipeline, scoring inline    {inline:10.0f} msg/s   (ratio {inline / scoring:.2f})")
    print(f"  ratio pipeline / scoring alone   {ratio:10.2f}   (target >= 0.70)")
    return {"scoring": scoring, "pipeline": pipeline, "ratio": ratio, "ingest": ingest, "inline": inline}


def _run_pipeline(
    messages: list[IncomingMessage], scoring: InlineModerator | ProcessModerator
) -> tuple[float, float, int, int, int]:
    """Store the messages, then time the processing stage over them; return the figures."""
    count = len(messages)
    try:
        scoring.submit([ModerationInput(m.text) for m in messages[:50]]).result()  # child warmed up
        with tempfile.TemporaryDirectory() as tmp:
            db = make_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
            upgrade(db)
            clock = SystemClock()
            start = time.perf_counter()
            for i in range(0, count, BATCH):
                store_fetch(db, "bench", messages[i : i + BATCH], str(i), [], clock.now())
            ingest = count / (time.perf_counter() - start)
            processor = Processor(db, scoring, PolicySource(None).current, clock)
            start = time.perf_counter()
            processed = processor.drain(BATCH, max_batches=count // BATCH + 2)
            pipeline = processed / (time.perf_counter() - start)
            with db.connect() as conn:
                outbox = conn.execute(select(func.count()).select_from(t.outbox)).scalar_one()
                queued = conn.execute(select(func.count()).select_from(t.review_items)).scalar_one()
            db.dispose()
    finally:
        scoring.close()
    return ingest, pipeline, processed, outbox, queued
