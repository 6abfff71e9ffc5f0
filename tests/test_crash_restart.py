"""SIGKILL `tactful run` in the middle of a burst, start it again: nothing lost, nothing sent twice."""

from __future__ import annotations

import random
import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from sqlalchemy import Engine, func, select

from simulator.generate import COMPLAINTS, PRODUCTS, QUESTIONS
from simulator.x import XSimulator
from storage import tables as t
from storage.db import make_engine
from tests.e2e_helpers import db_ready, load_test_policy, start_service, wait_for, write_config

pytestmark = pytest.mark.slow


def post_burst(sim: XSimulator, start: int, count: int, rng: random.Random) -> list[str]:
    ids = []
    for n in range(start, start + count):
        user_id = str(3000 + n)
        sim.add_user(user_id, f"customer{n}", f"Customer {n}")
        template = rng.choice(COMPLAINTS + QUESTIONS)
        text = template.format(p=rng.choice(PRODUCTS), n=rng.randint(10000, 99999))
        ids.append(sim.post(user_id, f"@acme {text}"))
    return ids


def counts(db: Engine) -> dict[str, int]:
    with db.connect() as conn:
        messages = conn.execute(select(func.count()).select_from(t.messages)).scalar_one()
        unprocessed = conn.execute(
            select(func.count()).select_from(t.messages).where(t.messages.c.status == "new")
        ).scalar_one()
        open_sends = conn.execute(
            select(func.count()).select_from(t.outbox).where(t.outbox.c.status.in_(("pending", "sending")))
        ).scalar_one()
        acks = conn.execute(
            select(func.count()).select_from(t.outbox).where(t.outbox.c.kind == "public_reply")
        ).scalar_one()
    return {"messages": messages, "unprocessed": unprocessed, "open_sends": open_sends, "acks": acks}


@pytest.fixture
def sim() -> Iterator[XSimulator]:
    simulator = XSimulator("1000", "acme")
    simulator.start()
    yield simulator
    simulator.stop()


def test_sigkill_mid_burst_loses_nothing_and_sends_nothing_twice(tmp_path: Path, sim: XSimulator) -> None:
    policy = load_test_policy()
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(yaml.safe_dump(policy, allow_unicode=True), encoding="utf-8")
    db_url = f"sqlite:///{tmp_path / 'tactful.db'}"
    config = write_config(tmp_path, sim.base_url, db_url, workers=2)
    config.write_text(config.read_text() + f'\n[policy]\npath = "{policy_file}"\n', encoding="utf-8")
    log = tmp_path / "service.log"
    rng = random.Random(3)
    sim.set_latency(0.005)

    db = make_engine(db_url)
    # A first-ever poll starts from "now" (one page of history), so the service must be up before the burst.
    warm_up = post_burst(sim, 0, 1, rng)
    process = start_service(config, log)
    try:
        wait_for(lambda: db_ready(db) and counts(db)["messages"] == 1, 60, "the first poll")
        first_burst = post_burst(sim, 1, 299, rng)
        wait_for(lambda: len(sim.brand_replies()) >= 40, 90, "the first acknowledgements")
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    replies_at_kill = len(sim.brand_replies())
    assert replies_at_kill < 300, "the kill came too late to interrupt the burst"

    second_burst = post_burst(sim, 300, 100, rng)
    posted = set(warm_up) | set(first_burst) | set(second_burst)
    process = start_service(config, log)
    try:
        wait_for(
            lambda: (
                (c := counts(db))["messages"] == len(posted)
                and c["unprocessed"] == 0
                and c["open_sends"] == 0
            ),
            120,
            "the restarted service to catch up",
        )
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()

    with db.connect() as conn:
        stored = [row[0] for row in conn.execute(select(t.messages.c.external_id))]
        ack_targets = {
            row[0]
            for row in conn.execute(
                select(t.outbox.c.target_external_id).where(t.outbox.c.kind == "public_reply")
            )
        }
        statuses = Counter(row[0] for row in conn.execute(select(t.outbox.c.status)))
    db.dispose()
    replies = Counter(r.in_reply_to_tweet_id for r in sim.brand_replies())
    print(
        f"posted {len(posted)}, stored {len(stored)}, replies at kill {replies_at_kill}, "
        f"replies {sum(replies.values())}, outbox {dict(statuses)}"
    )
    assert sorted(stored) == sorted(posted), "a mention was lost or stored twice"
    assert [tid for tid, n in replies.items() if n > 1] == [], "an acknowledgement was sent twice"
    assert set(replies) == ack_targets, "an acknowledgement the policy asked for never arrived"
    assert len(ack_targets) >= 300
    assert statuses.get("failed", 0) == 0
