"""Scale-out throughput on PostgreSQL: one processing worker against two sharing the database.

Each worker runs in its own pool, as two `tactful run` processes with `workers = 1` would, and
they split the processing partitions through leases. Both runs process the same stored backlog
in a fresh schema; the models are loaded and the partitions shared out before the clock starts.
"""

from __future__ import annotations

import os
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine, func, select, text

from simulator.generate import generate_messages
from storage import tables as t
from storage.db import make_engine
from storage.ingest import store_fetch
from storage.leases import PARTITION, live_holders
from storage.migrate import upgrade
from tactful.clock import SystemClock
from tactful.domain import IncomingMessage
from tactful.settings import ProcessingSettings, Settings, StorageSettings
from tactful.workers import ProcessingWorkers

POSTGRES_ENV = "TACTFUL_TEST_POSTGRES_URL"
BATCH = 500
TARGET = 1.6
ROUNDS = 3


def run_scaleout_bench(count: int) -> dict[str, float] | None:
    """Time one worker, then two, over the same PostgreSQL backlog; print msg/s and the ratio."""
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        print(f"scale-out benchmark: skipped (set {POSTGRES_ENV} to a PostgreSQL database URL)")
        return None
    messages = list(generate_messages(count))
    # ROUNDS rounds of (one worker, two workers) on fresh schemas; the median round is reported,
    # so a passing disturbance on the machine moves one round, not the figure.
    rounds = []
    for _ in range(ROUNDS):
        one = _run(base, messages, workers=1)
        two = _run(base, messages, workers=2)
        rounds.append((one, two, two / one))
    one, two, ratio = sorted(rounds, key=lambda r: r[2])[len(rounds) // 2]
    partitions = ProcessingSettings().partitions
    print(
        f"scale-out benchmark: {count} messages, batches of {BATCH}, PostgreSQL, "
        f"{partitions} partitions, {os.cpu_count()} cores"
    )
    print(f"  one worker process                         {one:8.0f} msg/s   (median round)")
    print(f"  two worker processes (two pools)           {two:8.0f} msg/s   (median round)")
    shown = ", ".join(f"{r[2]:.2f} ({r[1]:.0f}/{r[0]:.0f})" for r in rounds)
    print(f"  rounds: ratio (two/one msg/s)              {shown}")
    print(
        f"  ratio two / one                            {ratio:8.2f}   (median of {ROUNDS} rounds; target >= {TARGET:.2f})"
    )
    return {"one": one, "two": two, "ratio": ratio}


@contextmanager
def _fresh_schema(base: str) -> Iterator[str]:
    """A URL whose search_path is a new schema, dropped afterwards."""
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _run(base: str, messages: list[IncomingMessage], workers: int) -> float:
    """Store the backlog in a fresh schema and time `workers` one-worker pools over it; return msg/s."""
    with _fresh_schema(base) as url:
        db = make_engine(url)
        try:
            upgrade(db)
            now = SystemClock().now()
            for i in range(0, len(messages), BATCH):
                store_fetch(db, "bench", messages[i : i + BATCH], str(i), [], now)
            settings = Settings(
                storage=StorageSettings(url=url),
                processing=ProcessingSettings(batch_size=BATCH, interval_seconds=0.01, workers=1),
            )
            pools = [ProcessingWorkers(settings, 1) for _ in range(workers)]
            for pool in pools:
                pool.start(paused=True)
            try:
                for pool in pools:
                    if not pool.wait_ready(120):
                        raise RuntimeError("processing workers did not start")
                _wait_shared(db, settings.processing.partitions, workers)
                start = time.perf_counter()
                for pool in pools:
                    pool.resume()
                while _any_left(db):
                    time.sleep(0.02)
                elapsed = time.perf_counter() - start
            finally:
                for pool in pools:
                    pool.stop()
            with db.connect() as conn:
                done = conn.execute(
                    select(func.count()).select_from(t.messages).where(t.messages.c.status == "processed")
                ).scalar_one()
            if done != len(messages):
                raise RuntimeError(f"{done} of {len(messages)} messages processed")
            return len(messages) / elapsed
        finally:
            db.dispose()


def _wait_shared(db: Engine, partitions: int, workers: int, timeout: float = 60) -> None:
    """Wait until every partition is held and each worker holds its share (paused workers rebalance)."""
    deadline = time.monotonic() + timeout
    share = -(-partitions // workers)
    while time.monotonic() < deadline:
        with db.connect() as conn:
            held = Counter(live_holders(conn, PARTITION, SystemClock().now()).values())
        if sum(held.values()) == partitions and len(held) == workers and max(held.values()) <= share:
            return
        time.sleep(0.05)
    raise RuntimeError("the workers did not share the partitions out in time")


def _any_left(db: Engine) -> bool:
    """Whether any message is still unprocessed (one index probe)."""
    with db.connect() as conn:
        row = conn.execute(
            select(t.messages.c.id).where(t.messages.c.status.in_(("new", "claimed"))).limit(1)
        ).first()
    return row is not None
