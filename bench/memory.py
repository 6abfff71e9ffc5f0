"""Worker memory through a backlog catch-up: 1,000,000 stored messages, peak RSS of each worker.

The backlog (varied customer traffic on the three platforms, a conversation per ~3 messages,
50,000 customers) is written with raw `executemany`, as if the service had been down while the
listeners kept storing. The service's processing workers (as `tactful run` starts them) then
catch up while the peak RSS (VmHWM) of each is sampled; the target is under 400 MB per worker.
With `process` the run stops once that many messages are processed and reports the share and the
time the whole backlog would take at the measured rate.
"""

from __future__ import annotations

import random
import sqlite3
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, func, select

from bench.rss import PeakTracker, status_kb
from simulator.generate import generate_messages
from storage import tables as t
from storage.db import make_engine
from storage.migrate import upgrade
from tactful.settings import ProcessingSettings, Settings, StorageSettings
from tactful.workers import ProcessingWorkers

TARGET_MB = 400.0
CHANNELS = (("x", "mention"), ("facebook", "comment"), ("facebook", "direct"), ("telegram", "group"))
SOURCES = {"x": "x:mentions:1000", "facebook": "facebook:webhook:1000", "telegram": "telegram:updates:4242"}


def _ts(at: datetime) -> str:
    """SQLAlchemy's SQLite storage format for naive UTC datetimes."""
    return at.strftime("%Y-%m-%d %H:%M:%S.%f")


def fill_backlog(path: Path, count: int, authors: int = 50_000, seed: int = 5) -> None:
    """Write `count` unprocessed messages (with their threads and authors) straight into SQLite."""
    rng = random.Random(seed)
    texts = [m.text for m in generate_messages(5000, seed=seed)]
    start = datetime(2026, 1, 5, 9, 0, tzinfo=UTC) - timedelta(seconds=count)
    db = sqlite3.connect(path)
    with db:
        db.executemany(
            "INSERT INTO authors (id, platform, external_id, username, is_bot, first_seen_at, last_seen_at,"
            " messages_processed, troll_verdicts) VALUES (?, ?, ?, ?, 0, ?, ?, 0, 0)",
            [
                (a, CHANNELS[a % len(CHANNELS)][0], str(10_000 + a), f"user{a}", _ts(start), _ts(start))
                for a in range(1, authors + 1)
            ],
        )
    chunk = 100_000
    thread = 0
    for first in range(0, count, chunk):
        threads: list[tuple[object, ...]] = []
        rows: list[tuple[object, ...]] = []
        for i in range(first, min(count, first + chunk)):
            author = rng.randrange(1, authors + 1)
            platform, channel = CHANNELS[author % len(CHANNELS)]
            at = _ts(start + timedelta(seconds=i))
            if thread == 0 or rng.random() < 0.35:
                thread += 1
                threads.append((thread, platform, f"t{thread}", channel, at, at))
            rows.append(
                (
                    i + 1,
                    platform,
                    f"m{i + 1}",
                    channel,
                    thread,
                    author,
                    rng.choice(texts),
                    at,
                    at,
                    SOURCES[platform],
                )
            )
        with db:
            db.executemany(
                "INSERT INTO threads (id, platform, external_id, channel, created_at, last_message_at, heat,"
                " acknowledged, moved_private) VALUES (?, ?, ?, ?, ?, ?, 0, 0, 0)",
                threads,
            )
            db.executemany(
                "INSERT INTO messages (id, platform, external_id, channel, thread_id, author_id, text,"
                " created_at, received_at, is_private, source, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?,"
                " 'new')",
                rows,
            )
    db.close()


def _processed(db: Engine) -> int:
    with db.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).select_from(t.messages).where(t.messages.c.status == "processed")
            ).scalar_one()
        )


def run_memory_bench(
    count: int = 1_000_000, process: int | None = None, workers: int = 2
) -> dict[str, float]:
    """Fill the backlog, let the workers catch up (or process `process` of it), print peak RSS per worker."""
    goal = min(count, process) if process else count
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        url = f"sqlite:///{path}"
        engine = make_engine(url)
        upgrade(engine)
        started = time.perf_counter()
        fill_backlog(path, count)
        filled = time.perf_counter() - started
        size_mb = path.stat().st_size / 1e6
        settings = Settings(storage=StorageSettings(url=url), processing=ProcessingSettings(workers=workers))
        pool = ProcessingWorkers(settings, workers)
        pool.start(paused=True)
        try:
            if not pool.wait_ready(300):
                raise RuntimeError("processing workers did not start")
            trackers = {pid: PeakTracker(pid) for pid in pool.pids()}
            ready_mb = {pid: (status_kb(pid, "VmRSS") or 0) / 1024 for pid in trackers}
            started = time.perf_counter()
            pool.resume()
            done, counted_at = 0, started
            while done < goal:
                for tracker in trackers.values():
                    tracker.sample()
                time.sleep(1.0)
                if time.perf_counter() - counted_at >= 10.0:
                    counted_at = time.perf_counter()
                    done = _processed(engine)
            elapsed = counted_at - started
            for tracker in trackers.values():
                tracker.sample()
            restarted = pool.supervise()
        finally:
            pool.stop()
            engine.dispose()
    rate = done / elapsed
    print(
        f"memory benchmark: {count} unprocessed messages in SQLite ({size_mb:.0f} MB, written in {filled:.0f} s), "
        f"{workers} processing workers"
    )
    whole = "the whole backlog" if done >= count else f"{done} of {count} ({100 * done / count:.0f}%)"
    print(f"  processed {whole} in {elapsed:.0f} s ({rate:.0f} msg/s)", end="")
    print(
        ""
        if done >= count
        else f"; the whole backlog would take about {count / rate / 60:.0f} min at this rate"
    )
    peaks: dict[str, float] = {}
    for index, (pid, tracker) in enumerate(trackers.items()):
        peak = max((mb for _, _, mb in tracker.report()), default=0.0)
        verdict = "under" if peak < TARGET_MB else "OVER"
        print(
            f"  worker {index} (pid {pid}): RSS {ready_mb[pid]:.0f} MB when ready, peak (VmHWM) {peak:.0f} MB   "
            f"({verdict} the {TARGET_MB:.0f} MB target)"
        )
        peaks[f"worker{index}_peak_mb"] = peak
    if restarted:
        print(f"  {restarted} worker(s) had died and were restarted")
    peaks["processed"], peaks["rate"] = float(done), rate
    return peaks
