"""`tactful stats` over a big SQLite history: 1,000,000 stored messages, the report under 1 s.

The history (customers' messages over 30 days on every platform, automation's and people's
replies) is written with raw `executemany`; the conversations table is then filled by
`storage.response_metrics.rebuild` (the one-off backfill; in service the processing stage and
the outbox keep it current), and the report is timed as `tactful stats --json` computes it.
"""

from __future__ import annotations

import json
import random
import sqlite3
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from storage.db import make_engine
from storage.migrate import upgrade
from storage.response_metrics import rebuild
from tactful.stats import compute_stats

TARGET_SECONDS = 1.0
CHANNELS = (("facebook", "direct"), ("facebook", "comment"), ("x", "mention"), ("telegram", "group"))
SOURCES = {
    "facebook": "facebook:conversations:111",
    "x": "x:mentions:222",
    "telegram": "telegram:updates:333",
}


def _ts(at: datetime) -> str:
    """SQLAlchemy's SQLite storage format for naive UTC datetimes."""
    return at.strftime("%Y-%m-%d %H:%M:%S.%f")


def _fill(path: Path, messages: int, now: datetime, seed: int = 11) -> tuple[int, int]:
    """Write threads, authors, processed messages and sent replies; return (messages, sends)."""
    rng = random.Random(seed)
    start = now - timedelta(days=30)
    span = 30 * 86_400
    threads: list[tuple[object, ...]] = []
    rows: list[tuple[object, ...]] = []
    sends: list[tuple[object, ...]] = []
    key = 0
    while len(rows) < messages:
        key += 1
        platform, channel = CHANNELS[key % len(CHANNELS)]
        at = start + timedelta(seconds=rng.randint(0, span))
        threads.append((key, platform, f"t{key}", channel, _ts(at), _ts(at), f"c{key}"))
        for _ in range(rng.randint(1, 4)):  # conversations of this customer
            if at >= now or len(rows) >= messages:
                break
            first = len(rows) + 1
            for i in range(min(rng.randint(1, 4), messages - len(rows))):  # messages of the conversation
                written = at + timedelta(seconds=37 * i)
                rows.append((len(rows) + 1, platform, f"m{len(rows) + 1}", channel, key, key, _ts(written)))
            if rng.random() < 0.6:
                sends.append((first, key, platform, "direct_message", "ack", _ts(at + timedelta(seconds=5))))
            if rng.random() < 0.8:
                answered = at + timedelta(seconds=rng.randint(30, 6 * 3600))
                sends.append((first, key, platform, "public_reply", "human", _ts(answered)))
                at = answered
            at += timedelta(hours=25, seconds=rng.randint(0, 86_400))
    db = sqlite3.connect(path)
    with db:
        db.executemany(
            "INSERT INTO accounts (id, platform, external_id, username) VALUES (?, ?, ?, ?)",
            [
                (1, "facebook", "111", "acme-page"),
                (2, "x", "222", "acme"),
                (3, "telegram", "333", "acme_bot"),
            ],
        )
        db.executemany(
            "INSERT INTO threads (id, platform, external_id, channel, created_at, last_message_at, heat,"
            " acknowledged, moved_private) VALUES (?, ?, ?, ?, ?, ?, 0, 0, 0)",
            [r[:6] for r in threads],
        )
        db.executemany(
            "INSERT INTO authors (id, platform, external_id, is_bot, first_seen_at, last_seen_at,"
            " messages_processed, troll_verdicts) VALUES (?, ?, ?, 0, ?, ?, 0, 0)",
            [(r[0], r[1], r[6], r[4], r[4]) for r in threads],
        )
        db.executemany(
            "INSERT INTO messages (id, platform, external_id, channel, thread_id, author_id, text, created_at,"
            " received_at, is_private, source, status) VALUES (?, ?, ?, ?, ?, ?, 'where is my order?', ?, ?,"
            " 0, ?, 'processed')",
            [(*r, r[6], SOURCES[str(r[1])]) for r in rows],
        )
        db.executemany(
            "INSERT INTO outbox (idempotency_key, message_id, thread_id, author_id, platform, kind,"
            " thread_external_id, target_external_id, recipient_external_id, text, rule_id, policy_version,"
            " status, attempts, next_attempt_at, created_at, sent_at)"
            " VALUES (?, ?, ?, ?, ?, ?, 't', 'm', 'c', 'thanks', ?, 'v1', 'sent', 1, ?, ?, ?)",
            [
                (f"k{i}", m, k, k, p, kind, rule, at, at, at)
                for i, (m, k, p, kind, rule, at) in enumerate(sends)
            ],
        )
    db.close()
    return len(rows), len(sends)


def run_stats_bench(messages: int = 1_000_000, runs: int = 5) -> dict[str, float]:
    """Fill a database with `messages` messages, rebuild the conversations, time the report; print it."""
    now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        engine = make_engine(f"sqlite:///{path}")
        upgrade(engine)
        started = time.perf_counter()
        stored, sent = _fill(path, messages, now)
        filled = time.perf_counter() - started
        started = time.perf_counter()
        with engine.begin() as conn:
            conversations = rebuild(conn)
        rebuilt = time.perf_counter() - started
        samples = []
        for _ in range(runs):
            started = time.perf_counter()
            with engine.connect() as conn:
                report = compute_stats(conn, now)
            json.dumps(report)
            samples.append(time.perf_counter() - started)
        engine.dispose()
    best, worst = min(samples), max(samples)
    verdict = "under" if worst < TARGET_SECONDS else "OVER"
    print(
        f"stats benchmark: SQLite, {stored} messages, {sent} replies, {conversations} conversations over 30 days "
        f"(written in {filled:.1f} s; conversations rebuilt from them in {rebuilt:.1f} s)"
    )
    print(
        f"  tactful stats --json (24h, 7d, 30d; all groups; daily trend; badge)   best {best:.3f} s   "
        f"worst {worst:.3f} s of {runs}   ({verdict} the {TARGET_SECONDS:.0f} s target)"
    )
    return {"best": best, "worst": worst, "rebuild": rebuilt}
