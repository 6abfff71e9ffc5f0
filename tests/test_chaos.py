"""The chaos run: 3 workers on PostgreSQL, 5,000 mentions on three simulators, SIGKILLs and injected faults.

One real `tactful run` with `[processing] workers = 3` against the X, Facebook and Telegram
simulators while they answer 10% of requests with 5xx and throttle some (each platform's own
429/throttle answer); a killer thread SIGKILLs a random worker process every 2-4 s and once kills
and restarts the whole service. Then the faults stop, the service drains, and the run must show:
every mention stored exactly once, every acknowledgement the policy asked for received by the
simulators exactly once, and nothing stuck. It prints the counts.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from storage import tables as t
from storage.db import make_engine
from tests import three_platforms
from tests.e2e_helpers import db_ready, start_service, wait_for
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

BOT_TOKEN = "4343:AAH-chaos_test-token"
SECRETS = service_secrets("chaos", BOT_TOKEN)
OUR_ACCOUNTS = our_accounts(BOT_TOKEN)
# Telegram lets a bot write 20 messages a minute into one group: many groups keep replies flowing.
GROUPS = [-1002000000000 - n for n in range(100)]
MIX = {"x": 1800, "comments": 1000, "messenger": 500, "group": 1300, "private": 400}
if os.environ.get("CHAOS_SCALE"):  # e.g. CHAOS_SCALE=20: a twentieth of the mentions, for a quick look
    MIX = {k: v // int(os.environ["CHAOS_SCALE"]) for k, v in MIX.items()}
MALFORMED = 5  # unusable payloads per platform, mixed into the burst
FAULT_SECONDS = 90.0  # how long faults and kills go on at most (they stop once nearly everything is done)


class Chaos(Sims):
    """The three simulators, with this test's bursts, malformed payloads and fault switches."""

    def post_x(self, count: int) -> set[str]:
        return {self.mention() for _ in range(count)}

    def burst(self, mix: dict[str, int]) -> dict[str, set[str]]:
        """Post `mix` on every platform; return the external ids tactful should store, per platform."""
        made: dict[str, set[str]] = {"x": self.post_x(mix["x"]), "facebook": set(), "telegram": set()}
        made["facebook"] = {self.comment(n) for n in range(mix["comments"])}
        made["facebook"] |= {self.messenger() for _ in range(mix["messenger"])}
        made["telegram"] = {self.group_message(GROUPS[n % len(GROUPS)]) for n in range(mix["group"])}
        made["telegram"] |= {self.private_chat() for _ in range(mix["private"])}
        return made

    def malformed(self, count: int) -> None:
        """Payloads no parser can use, on every platform: each must be quarantined, the rest unharmed."""
        for n in range(count):
            self.x.post_raw({"id": str(9_000_000 + n), "text": f"@acme no author {n}"})
            self.fb.add_raw_comment(self.posts[n % len(self.posts)], {"id": f"broken_{n}", "message": 42})
            self.tg.add_raw_update({"update_id": "not-a-number", "message": {"text": f"broken {n}"}})

    def faults_on(self) -> None:
        """10% 5xx everywhere, some throttling in each platform's own words."""
        for sim, status in ((self.x, 503), (self.fb, 500), (self.tg, 502)):
            sim.fault_plan.seed(7)
            sim.set_fault_rate(status, 0.10)
        self.x.set_throttle_rate(0.02, retry_after=2, paths=[r"/mentions$", r"^/2/tweets$"])
        self.tg.set_throttle_rate(0.02, retry_after=1, paths=["^getUpdates$", "^sendMessage$"])
        # Graph's throttle says "come back in N minutes" (a whole minute at least): two of them.
        self.fb.set_throttle_rate(0.2, retry_after=60, paths=[r"/comments$"], methods=["GET"], limit=1)
        self.fb.set_throttle_rate(0.2, retry_after=60, paths=[r"/messages$"], methods=["POST"], limit=1)

    def faults_off(self) -> None:
        for sim in (self.x, self.fb, self.tg):
            sim.clear_faults()

    def injected(self) -> dict[str, dict[str, int]]:
        return {
            "x": self.x.injected_faults(),
            "facebook": self.fb.injected_faults(),
            "telegram": self.tg.injected_faults(),
        }


@pytest.fixture
def sims() -> Iterator[Chaos]:
    x, fb, tg = load_simulators(SECRETS, GROUPS)
    made = Chaos(x, fb, tg, rng=random.Random(11), first_user=20000)
    made.posts = [fb.add_post(f"Post number {n}") for n in range(10)]
    yield made
    made.stop()


def stored_ids(db: Engine) -> dict[str, list[str]]:
    return three_platforms.stored_ids(db, OUR_ACCOUNTS)


def sent_count(db: Engine) -> int:
    with db.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).select_from(t.outbox).where(t.outbox.c.status == "sent")
            ).scalar_one()
        )


class Killer(threading.Thread):
    """SIGKILLs a random worker of the running service every 2-4 s until stopped."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        super().__init__(name="chaos-killer", daemon=True)
        self.process = process
        self.kills = 0
        self.halt = threading.Event()
        self._lock = threading.RLock()
        self._rng = random.Random(3)

    def use(self, process: subprocess.Popen[bytes]) -> None:
        with self._lock:
            self.process = process

    def run(self) -> None:
        while not self.halt.wait(self._rng.uniform(2.0, 4.0)):
            with self._lock:
                pids = worker_pids(self.process.pid)
                if not pids:
                    continue
                victim = self._rng.choice(pids)
                try:
                    os.kill(victim, signal.SIGKILL)
                except ProcessLookupError:
                    continue
                self.kills += 1


def test_chaos_run_loses_nothing_and_sends_nothing_twice(
    tmp_path: Path, sims: Chaos, postgres_schema_url: str
) -> None:
    started = time.monotonic()
    port = free_port()
    config = write_config(
        tmp_path,
        sims,
        port,
        db_url=postgres_schema_url,
        processing="batch_size = 200\nworkers = 3\nclaim_lease_seconds = 5",
        extra="\n[stats]\nbadge_alerts = false\n",
        reload_seconds=0,
    )
    log = tmp_path / "service.log"
    db = make_engine(postgres_schema_url)
    expected: dict[str, set[str]] = {"x": set(), "facebook": set(), "telegram": set()}

    # X's first-ever poll starts from "now": one mention goes first and the burst comes after it.
    expected["x"] |= sims.post_x(1)
    process = start_service(config, log, SECRETS)
    killer = Killer(process)
    service_kills = 0
    try:
        wait_for(lambda: db_ready(db) and len(stored_ids(db)["x"]) == 1, 90, "the first X poll")
        sims.faults_on()
        killer.start()
        for platform, ids in sims.burst(MIX).items():
            expected[platform] |= ids
        sims.malformed(MALFORMED)
        total = sum(len(ids) for ids in expected.values())
        posted_at = time.monotonic()
        print(f"posted {total} mentions in {posted_at - started:.1f}s")

        # Once, mid-burst and mid-sending, the whole service dies and comes back.
        wait_for(lambda: sent_count(db) >= total // 10, 120, "the first acknowledgements")
        with killer._lock:
            assert stop(process, signal.SIGKILL) == -signal.SIGKILL
            service_kills += 1
            process = start_service(config, log, SECRETS)
            killer.use(process)

        deadline = posted_at + FAULT_SECONDS
        # Faults and kills go on until every mention is in and processed and most sends are out.
        while time.monotonic() < deadline:
            stored_now, unprocessed, open_sends = backlog(db, OUR_ACCOUNTS)
            if (stored_now, unprocessed) == (total, 0) and open_sends < total // 20:
                break
            time.sleep(0.5)
        print(
            f"faults off at {time.monotonic() - started:.0f}s: stored, unprocessed, open sends {backlog(db, OUR_ACCOUNTS)}"
        )
    finally:
        killer.halt.set()
        killer.join(timeout=10)
        sims.faults_off()
    try:
        wait_for(
            lambda: backlog(db, OUR_ACCOUNTS) == (total, 0, 0),
            150,
            "the service to drain once the faults stopped",
        )
    finally:
        code = stop(process, signal.SIGTERM)
    elapsed = time.monotonic() - started

    stored = stored_ids(db)
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
                t.outbox.c.attempts,
                t.outbox.c.last_error,
            ).where(t.outbox.c.kind != "hide")
        ).all()
        unknown = (
            conn.execute(select(t.audit_log.c.subject_id).where(t.audit_log.c.action == "outbox.unknown"))
            .scalars()
            .all()
        )
        quarantined = dict(
            conn.execute(select(t.quarantine.c.source, func.count()).group_by(t.quarantine.c.source)).all()
        )
        statuses = dict(
            conn.execute(select(t.messages.c.status, func.count()).group_by(t.messages.c.status)).all()
        )
    db.dispose()

    received = deliveries(sims)
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
    failed_received = sum(received[delivery_key(row)[0]][delivery_key(row)[1]] for row in failed)
    print(
        f"\nchaos run: {elapsed:.0f}s, service exit {code}\n"
        f"  mentions posted {total}, stored {[(p, len(ids)) for p, ids in stored.items()]}, message statuses {statuses}\n"
        f"  worker SIGKILLs {killer.kills}, service SIGKILLs {service_kills}\n"
        f"  injected faults {sims.injected()}\n"
        f"  acknowledgements asked {len(outbox)}: sent {len(sent)}, failed {len(failed)} "
        f"(interrupted Telegram sends handed to a person: {len(unknown)}, of which received {failed_received}), "
        f"by kind {Counter((r.platform, r.kind_used or r.kind, r.status) for r in outbox)}\n"
        f"  received by the simulators {sum(sum(c.values()) for c in received.values())}, "
        f"received twice {len(twice)}, sent but not received once {len(missing)}, received unasked {len(unasked)}\n"
        f"  quarantined {quarantined}"
    )
    for platform, ids in expected.items():
        assert sorted(stored[platform]) == sorted(ids), f"a {platform} mention was lost or stored twice"
    assert twice == {}, f"acknowledgements received twice: {twice}"
    assert missing == [], f"sends marked sent that the simulators did not receive once: {missing[:5]}"
    assert unasked == [], f"the simulators received sends nobody asked for: {unasked[:5]}"
    # A send cut off by the service's SIGKILL on Telegram (which cannot say what a bot sent) goes to a
    # person instead of being retried; nothing else may fail.
    assert sorted(str(row.id) for row in failed) == sorted(unknown), [r.last_error for r in failed][:5]
    assert all(row.platform == "telegram" for row in failed)
    assert len(sent) >= len(outbox) - 3
    # Each unusable payload is kept once with its reason (not once per poll that saw it again).
    assert sum(quarantined.values()) == 3 * MALFORMED, quarantined
    assert elapsed < 300
