"""The database goes away for 8 s under a real `tactful run`: back off, resume, lose nothing, send nothing twice.

One `tactful run` with two processing workers reaches PostgreSQL through a TCP forwarder
(tests/tcp_forwarder.py) while customers keep posting on the X, Facebook (comments by webhook
and catch-up polling, Messenger) and Telegram simulators. Mid-stream the forwarder drops every
database connection and refuses new ones for `OUTAGE_SECONDS`, then lets them through again.
Afterwards every posted message must be stored exactly once, every acknowledgement the policy
asked for received exactly once, nothing left unprocessed or unsent, the service and its
workers still running (a worker that died must have been restarted by the supervisor), and
the log must say that the database failed once per component, not once per retry. It prints
the counts.
"""

from __future__ import annotations

import random
import re
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from storage import tables as t
from storage.db import make_engine
from tests import three_platforms
from tests.e2e_helpers import db_ready, start_service, wait_for
from tests.tcp_forwarder import TcpForwarder
from tests.three_platforms import (
    Sims,
    backlog,
    deliveries,
    delivery_key,
    free_port,
    load_simulators,
    our_accounts,
    service_secrets,
    stop,
    worker_pids,
    write_config,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

BOT_TOKEN = "4545:AAH-outage_test-token"
SECRETS = service_secrets("outage", BOT_TOKEN)
OUR_ACCOUNTS = our_accounts(BOT_TOKEN)
TEAM_CHAT = -1003999999999  # urgent items are posted here (not outbox sends: counted apart)
GROUPS = [-1003000000000 - n for n in range(40)]
POST_EVERY = 0.06  # seconds between two customers' messages (about 16 a second, on every platform)
BEFORE_SECONDS = 5.0  # customers post this long before the outage,
OUTAGE_SECONDS = 8.0  # all through it,
AFTER_SECONDS = 3.0  # and this long after it
SETTLE_SECONDS = 40.0  # at most this long for the backlog to drain once the database is back
#: A log record that talks about the database failing.
DB_FAILURE = re.compile(r"database|OperationalError|psycopg|server closed the connection", re.IGNORECASE)
#: The start of a log record: tactful's format, or uvicorn's own (``ERROR:    Exception in ASGI application``).
RECORD = re.compile(
    r"^(?:\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (?P<level>[A-Z]+) (?P<logger>[\w.]+): |(?P<uvicorn>[A-Z]+):\s+)"
)
CARD_ITEM = re.compile(r"^Review item #(\d+)$", re.MULTILINE)


class Customers(threading.Thread):
    """Customers posting on every platform, one message every `POST_EVERY` s, until stopped."""

    def __init__(self, sims: Sims) -> None:
        super().__init__(name="customers", daemon=True)
        self.sims = sims
        self.posted: dict[str, set[str]] = {"x": set(), "facebook": set(), "telegram": set()}
        self.during_outage = 0
        self.outage = threading.Event()
        self.halt = threading.Event()
        self._lock = threading.Lock()

    def run(self) -> None:
        n = 0
        while not self.halt.wait(POST_EVERY):
            platform, ref = self._post(n)
            with self._lock:
                self.posted[platform].add(ref)
                self.during_outage += self.outage.is_set()
            n += 1

    def _post(self, n: int) -> tuple[str, str]:
        kind = n % 5
        if kind == 0:
            return "x", self.sims.mention()
        if kind == 1:
            return "facebook", self.sims.comment(n)
        if kind == 2:
            return "facebook", self.sims.messenger()
        if kind == 3:
            return "telegram", self.sims.private_chat()
        return "telegram", self.sims.group_message(GROUPS[n % len(GROUPS)])

    def total(self) -> int:
        with self._lock:
            return sum(len(ids) for ids in self.posted.values())


@pytest.fixture
def sims() -> Iterator[Sims]:
    x, fb, tg = load_simulators(SECRETS, GROUPS)
    tg.add_group(TEAM_CHAT, "Acme support team")
    made = Sims(x, fb, tg, rng=random.Random(13), first_user=40000)
    made.posts = [fb.add_post(f"Post number {n}") for n in range(5)]
    yield made
    made.stop()


@pytest.fixture
def forwarder(postgres_schema_url: str) -> Iterator[TcpForwarder]:
    url = make_url(postgres_schema_url)
    made = TcpForwarder((url.host or "127.0.0.1", url.port or 5432)).start()
    yield made
    made.stop()


def failure_lines(text: str) -> tuple[Counter[str], int]:
    """Log records about the database failing (and every error record), per component; and the tracebacks.

    A component is the logger and what the line says failed ("tactful.service: stage dispatch"),
    so a stage logging its failure on every retry shows up as one component with many lines.
    """
    per_component: Counter[str] = Counter()
    for line in text.splitlines():
        record = RECORD.match(line)
        if record is None:
            continue
        level = record["level"] or record["uvicorn"]
        if DB_FAILURE.search(line) or level == "ERROR":
            message = line[record.end() :]
            what = message.split(" failed", 1)[0] if " failed" in message else message[:80]
            per_component[f"{record['logger'] or 'uvicorn'}: {what}"] += 1
    return per_component, text.count("Traceback (most recent call last)")


def team_chat_cards(sims: Sims) -> Counter[str]:
    """How many times each review item's card was posted in the team chat."""
    return Counter(
        match
        for m in sims.tg.sent_messages()
        if m.chat_id == TEAM_CHAT and m.text.startswith("<b>Priority")
        for match in CARD_ITEM.findall(m.text)
    )


def test_database_outage_loses_nothing_and_sends_nothing_twice(
    tmp_path: Path, sims: Sims, postgres_schema_url: str, forwarder: TcpForwarder
) -> None:
    started = time.monotonic()
    port = free_port()
    sims.fb.auto_webhook_url = f"http://127.0.0.1:{port}/webhooks/facebook"
    through_forwarder = make_url(postgres_schema_url).set(port=forwarder.port)
    config = write_config(
        tmp_path,
        sims,
        port,
        db_url=through_forwarder.render_as_string(hide_password=False),
        extra="\n[stats]\nbadge_alerts = false\n",
        reload_seconds=0,
    )
    log = tmp_path / "service.log"
    db = make_engine(postgres_schema_url)  # the test's own view: straight to PostgreSQL
    customers = Customers(sims)

    # X's first-ever poll starts from "now": one mention goes first and the stream comes after it.
    customers.posted["x"].add(sims.mention())
    process = start_service(config, log, {**SECRETS, "TACTFUL_TELEGRAM__TEAM_CHAT_ID": str(TEAM_CHAT)})
    try:
        wait_for(
            lambda: db_ready(db) and len(three_platforms.stored_ids(db, OUR_ACCOUNTS)["x"]) == 1,
            60,
            "the first X poll",
        )
        wait_for(lambda: len(worker_pids(process.pid)) == 2, 30, "two processing workers")
        workers_before = sorted(worker_pids(process.pid))
        customers.start()
        time.sleep(BEFORE_SECONDS)  # real processes under load: the outage must come mid-stream

        log_at_cut = log.stat().st_size
        before_cut = backlog(db, OUR_ACCOUNTS)
        forwarder.cut()
        customers.outage.set()
        time.sleep(OUTAGE_SECONDS)
        customers.outage.clear()
        forwarder.restore()
        restored_at = time.monotonic()
        time.sleep(AFTER_SECONDS)
        customers.halt.set()
        customers.join(timeout=10)
        total = customers.total()
        wait_for(
            lambda: backlog(db, OUR_ACCOUNTS) == (total, 0, 0),
            SETTLE_SECONDS,
            "the backlog to drain after the outage",
        )
        settled_after = time.monotonic() - restored_at
        alive = process.poll() is None
        workers_after = sorted(worker_pids(process.pid))
    finally:
        customers.halt.set()
        code = stop(process, signal.SIGTERM)
    elapsed = time.monotonic() - started

    outage_text = log.read_bytes()[log_at_cut:].decode("utf-8", errors="replace")
    per_component, tracebacks = failure_lines(outage_text)
    restarts = outage_text.count("exited with code")
    stored = three_platforms.stored_ids(db, OUR_ACCOUNTS)
    with db.connect() as conn:
        outbox = conn.execute(
            select(
                t.outbox.c.id,
                t.outbox.c.platform,
                t.outbox.c.kind,
                t.outbox.c.kind_used,
                t.outbox.c.target_external_id,
                t.outbox.c.recipient_external_id,
                t.outbox.c.status,
                t.outbox.c.last_error,
            ).where(t.outbox.c.kind != "hide")
        ).all()
        statuses = dict(
            conn.execute(select(t.messages.c.status, func.count()).group_by(t.messages.c.status)).all()
        )
        posts = dict(
            conn.execute(
                select(t.team_chat_posts.c.status, func.count()).group_by(t.team_chat_posts.c.status)
            ).all()
        )
    db.dispose()

    received = deliveries(sims, skip_chats=frozenset({TEAM_CHAT}))
    cards = team_chat_cards(sims)
    asked = Counter(delivery_key(row) for row in outbox)
    sent = [row for row in outbox if row.status == "sent"]
    failed = [row for row in outbox if row.status == "failed"]
    twice = {
        (kind, target): n for kind, counter in received.items() for target, n in counter.items() if n > 1
    }
    unasked = [
        (kind, target)
        for kind, counter in received.items()
        for target in counter
        if asked[(kind, target)] == 0
    ]
    missing = [row for row in sent if received[delivery_key(row)[0]][delivery_key(row)[1]] != 1]
    webhooks = Counter(d.status for d in sims.fb.webhook_deliveries())
    print(
        f"\ndatabase outage run: {elapsed:.0f}s, outage {OUTAGE_SECONDS:.0f}s, drained {settled_after:.1f}s "
        f"after the database came back, service exit {code}\n"
        f"  forwarder: {forwarder.connections} connections, {forwarder.severed} severed at the cut, "
        f"{forwarder.refused} refused during the outage\n"
        f"  messages posted {total} ({customers.during_outage} during the outage), stored "
        f"{[(p, len(ids)) for p, ids in stored.items()]}, statuses {statuses}; at the cut {before_cut}\n"
        f"  facebook webhook answers {dict(webhooks)}\n"
        f"  team chat posts {posts}, cards in the chat {sum(cards.values())} for {len(cards)} items\n"
        f"  acknowledgements asked {len(outbox)}: sent {len(sent)}, failed {len(failed)}; received "
        f"{sum(sum(c.values()) for c in received.values())}, twice {len(twice)}, sent but not received "
        f"once {len(missing)}, unasked {len(unasked)}\n"
        f"  workers before {workers_before}, after {workers_after}, restarts logged {restarts}\n"
        f"  log records about the database failing since the cut: {sum(per_component.values())} from "
        f"{len(per_component)} components (most from one: {max(per_component.values(), default=0)}), "
        f"tracebacks {tracebacks}"
    )
    assert customers.during_outage > 50, "the customers must keep posting through the outage"
    assert forwarder.severed > 0 and forwarder.refused > 0, (
        "the outage must have hit live and new connections"
    )
    for platform, ids in customers.posted.items():
        assert sorted(stored[platform]) == sorted(ids), f"a {platform} message was lost or stored twice"
    assert twice == {}, f"acknowledgements received twice: {twice}"
    assert missing == [], f"sends marked sent that the simulators did not receive once: {missing[:5]}"
    assert unasked == [], f"the simulators received sends nobody asked for: {unasked[:5]}"
    assert failed == [], [row.last_error for row in failed][:5]
    # The team chat posts each card once, and nothing it did is left "sending" (or turned "unknown").
    assert [item for item, n in cards.items() if n > 1] == []
    assert posts.get("sending", 0) == 0 and posts.get("unknown", 0) == 0, posts
    assert posts.get("posted", 0) == sum(cards.values()), posts
    assert alive and code == 0, "the service must ride the outage out and stop cleanly"
    assert len(workers_after) == 2
    assert workers_after == workers_before or restarts >= 1, (
        "a worker vanished without the supervisor noticing"
    )
    # Each component says once that the database failed (and once that it is back), not once per retry.
    # About a dozen components notice the outage (five listeners, two workers, the webhook
    # endpoint, the scheduled stages), plus a line per send or post caught in flight.
    assert max(per_component.values(), default=0) <= 2, per_component.most_common(3)
    assert sum(per_component.values()) <= 25, per_component
    assert tracebacks <= 2, f"{tracebacks} tracebacks during an {OUTAGE_SECONDS:.0f}s outage"
    assert elapsed < 150  # about 30 s; only a hang gets near this
