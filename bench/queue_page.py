"""Dashboard latency: GET /queue and its live fragment on a big SQLite database, through the real ASGI app."""

from __future__ import annotations

import random
import re
import tempfile
import time
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Table, func, select

from storage import tables as t
from storage.bulk import chunks, execute_many
from storage.db import make_engine
from storage.migrate import upgrade
from storage.users import add_user
from tactful.clock import FrozenClock
from tactful.policy_source import PolicySource
from tactful.web.app import create_app
from tactful.web.dashboard import DashboardConfig

with warnings.catch_warnings():  # starlette asks for httpx2; the installed httpx works the same here
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

TARGET_MS = 150.0
PLATFORMS = ("x", "facebook", "telegram")
CHANNELS = {"x": "mention", "facebook": "comment", "telegram": "group"}
CATEGORIES = ("complaint", "question", "praise", "troll", "spam", "other")
LANGUAGES = ("en", "en", "en", "en", "es", "fr", "de")
PRIORITIES = (90, 85, 80, 75, 70, 65, 60, 50, 40, 35, 30, 20, 10, 5)
REASONS = ("complaint: solve it", "question: answer it", "classifier unsure: read and answer personally")
WORDS = (
    *("order", "refund", "broken", "parcel", "late", "delivery", "charged", "twice", "kettle", "vacuum"),
    *("filter", "warranty", "support", "answer", "email", "tracking", "replacement", "thanks", "great"),
    *("terrible", "please", "help", "store", "app"),
)
PASSWORD = "bench-only-password"  # a throwaway login in a temporary database
_CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')


def run_queue_page_bench(
    messages: int = 100_000, items: int = 10_000, requests: int = 30
) -> dict[str, float]:
    """Fill a database, then time the queue page, its filters and the live fragment; print p50/p95."""
    with tempfile.TemporaryDirectory() as tmp:
        db = make_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
        upgrade(db)
        clock = FrozenClock(datetime(2026, 3, 2, 12, 0, tzinfo=UTC))
        start = time.perf_counter()
        _fill(db, clock.now(), messages, items)
        filled = time.perf_counter() - start
        client = _logged_in_client(db, clock)
        timings = {
            "GET /queue": _time(client, "/queue", requests),
            "GET /queue/live": _time(client, "/queue/live", requests),
            "GET /queue?platform=x&category=complaint": _time(
                client, "/queue?platform=x&category=complaint", requests
            ),
            "GET /queue/live?status=all": _time(client, "/queue/live?status=all", requests),
        }
        client.close()
        db.dispose()
    print(
        f"queue page benchmark: SQLite, {messages} messages, {items} open review items "
        f"plus claimed and resolved ones (filled in {filled:.1f} s), {requests} requests each after a warm-up"
    )
    figures: dict[str, float] = {}
    for name, samples in timings.items():
        p50, p95 = _percentile(samples, 50), _percentile(samples, 95)
        verdict = "under" if p95 < TARGET_MS else "OVER"
        print(
            f"  {name:44s} p50 {p50:6.1f} ms   p95 {p95:6.1f} ms   ({verdict} the {TARGET_MS:.0f} ms target)"
        )
        figures[f"{name} p50"], figures[f"{name} p95"] = p50, p95
    return figures


def _percentile(samples: list[float], percent: int) -> float:
    """The `percent`th percentile (nearest rank) of the samples."""
    ordered = sorted(samples)
    rank = max(1, round(percent / 100 * len(ordered)))
    return ordered[rank - 1]


def _time(client: TestClient, path: str, requests: int) -> list[float]:
    """Request `path` twice to warm up, then `requests` times; return each request's milliseconds."""
    samples: list[float] = []
    for i in range(requests + 2):
        start = time.perf_counter()
        response = client.get(path)
        elapsed = (time.perf_counter() - start) * 1000
        if response.status_code != 200:
            raise RuntimeError(f"GET {path} answered {response.status_code}")
        if i >= 2:
            samples.append(elapsed)
    return samples


def _logged_in_client(db: Engine, clock: FrozenClock) -> TestClient:
    """A client of the real application (dashboard mounted), logged in as an agent."""
    add_user(db, "bench", "agent", PASSWORD, "bench", clock.now())
    config = DashboardConfig(
        session_secret="bench-only-session-secret-0123456789abcdef",
        secure_cookies=False,
        policy=PolicySource(None).current,
    )
    client = TestClient(create_app(db, clock, dashboard=config))
    form = client.get("/login")
    found = _CSRF.search(form.text)
    if found is None:
        raise RuntimeError("no CSRF token on the login form")
    done = client.post(
        "/login",
        data={"name": "bench", "password": PASSWORD, "csrf_token": found.group(1), "next": "/queue"},
        follow_redirects=False,
    )
    if done.status_code != 303:
        raise RuntimeError(f"login failed: {done.status_code}")
    return client


def _fill(db: Engine, now: datetime, messages: int, items: int) -> None:
    """Bulk-insert authors, threads, processed messages with verdicts, and review items (open, claimed, resolved)."""
    rng = random.Random(5)
    authors = max(1, messages // 5)
    threads = max(items * 2, messages // 3)
    _insert(
        db,
        t.authors,
        (
            {
                "id": i,
                "platform": _platform_of(i),
                "external_id": str(10_000 + i),
                "username": f"user{i}" if i % 4 else None,
                "display_name": f"Customer {i}",
                "is_bot": False,
                "first_seen_at": now - timedelta(days=30),
                "last_seen_at": now,
                "messages_processed": 5,
                "troll_verdicts": 0,
                "first_message_at": None,
                "last_troll_at": None,
            }
            for i in range(1, authors + 1)
        ),
    )
    _insert(
        db,
        t.threads,
        (
            {
                "id": i,
                "platform": _platform_of(i),
                "external_id": f"thread-{i}",
                "channel": CHANNELS[_platform_of(i)],
                "created_at": now - timedelta(days=7),
                "last_message_at": now,
                "heat": 0.1,
                "heat_state": None,
                "acknowledged": False,
                "moved_private": False,
                "linked_thread_id": None,
            }
            for i in range(1, threads + 1)
        ),
    )
    rows: list[dict[str, Any]] = []
    verdicts: list[dict[str, Any]] = []
    for i in range(1, messages + 1):
        thread = (i - 1) % threads + 1  # the first `threads` messages start one thread each
        platform = _platform_of(thread)
        author = 3 * rng.randrange(1, max(2, authors // 3)) + PLATFORMS.index(platform)
        created = now - timedelta(seconds=messages - i)
        text = " ".join(rng.choices(WORDS, k=rng.randint(6, 30)))
        rows.append(
            {
                "id": i,
                "platform": platform,
                "external_id": f"m{i}",
                "channel": CHANNELS[platform],
                "thread_id": thread,
                "author_id": min(author, authors),
                "text": text,
                "created_at": created,
                "received_at": created,
                "in_reply_to_external_id": None,
                "language_hint": None,
                "is_private": False,
                "private_link_token": None,
                "source": "bench",
                "status": "processed",
                "claimed_at": None,
                "raw": None,
            }
        )
        verdicts.append(
            {
                "message_id": i,
                "category": rng.choice(CATEGORIES),
                "sentiment": "negative",
                "sentiment_score": -0.4,
                "toxicity": 0.1,
                "complaint": 0.6,
                "language": rng.choice(LANGUAGES),
                "confidence": 0.8,
                "explanation": "bench",
                "keywords": [],
                "signals": {},
                "model": "bench",
                "created_at": created,
            }
        )
    _insert(db, t.messages, rows)
    _insert(db, t.verdicts, verdicts)
    # One item per thread, raised by the thread's latest message: `items` open, a few claimed, more resolved.
    statuses = ["open"] * items + ["claimed"] * (items // 20) + ["resolved"] * (items // 3)
    review: list[dict[str, Any]] = []
    for n, status in enumerate(statuses):
        thread = n + 1
        message = thread + threads * ((messages - thread) // threads)
        created = now - timedelta(minutes=rng.randrange(60 * 24 * 3))
        review.append(
            {
                "thread_id": thread,
                "message_id": message,
                "platform": _platform_of(thread),
                "priority": rng.choice(PRIORITIES),
                "reason": rng.choice(REASONS),
                "status": status,
                "assignee": "bench" if status == "claimed" else None,
                "message_count": rng.randint(1, 4),
                "created_at": created,
                "updated_at": created,
                "due_at": created + timedelta(hours=4) if rng.random() < 0.5 else None,
                "resolved_at": now if status == "resolved" else None,
                "resolved_by": "bench" if status == "resolved" else None,
                "resolution_note": None,
            }
        )
    _insert(db, t.review_items, review)
    with db.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(t.messages)).scalar_one()
        waiting = conn.execute(select(func.count()).where(t.review_items.c.status == "open")).scalar_one()
    if (stored, waiting) != (messages, items):
        raise RuntimeError(
            f"expected {messages} messages and {items} open items, found {stored} and {waiting}"
        )


def _platform_of(number: int) -> str:
    return PLATFORMS[number % len(PLATFORMS)]


def _insert(db: Engine, table: Table, rows: Any) -> None:
    """Insert rows in large executemany batches, one transaction per table."""
    batch = list(rows)
    with db.begin() as conn:
        for part in chunks(batch, 5000):
            execute_many(conn, table.insert(), part)
