"""A running `tactful run` swaps to a changed policy mid-stream and keeps it when the next change is invalid."""

from __future__ import annotations

import os
import random
import signal
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine, func, select

from policies.loader import load_policies
from simulator.generate import COMPLAINTS, PRODUCTS, QUESTIONS
from simulator.x import XSimulator
from storage import tables as t
from storage.db import make_engine
from tests.e2e_helpers import db_ready, load_test_policy, start_service, wait_for, write_config

pytestmark = pytest.mark.slow

WORKERS = 2


def policy(mark: str, template: str = "ack_complaint") -> dict[str, Any]:
    """The default policy whose English acknowledgements start with `mark`, so each reply shows its version."""
    data = load_test_policy()
    for name in ("ack_complaint", "ack_question"):
        data["templates"][name]["en"] = [f"{mark} {text}" for text in data["templates"][name]["en"]]
    complaint = next(rule for rule in data["rules"] if rule["id"] == "complaint")
    complaint["then"][0] = {"acknowledge": template}
    return data


def write_policy(path: Path, data: dict[str, Any]) -> None:
    """Replace the policy file in one step, as a deploy would."""
    temporary = path.with_suffix(".tmp")
    temporary.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    os.replace(temporary, path)


@pytest.fixture
def sim() -> Iterator[XSimulator]:
    simulator = XSimulator("1000", "acme")
    simulator.start()
    simulator.set_latency(0.005)
    yield simulator
    simulator.stop()


class Customers:
    """Posts complaints and questions from new customers, remembering each tweet's id in order."""

    def __init__(self, sim: XSimulator) -> None:
        self.sim = sim
        self.rng = random.Random(5)
        self.posted: list[str] = []

    def post(self, count: int) -> list[str]:
        ids = []
        for _ in range(count):
            uid = str(3000 + len(self.posted))
            self.sim.add_user(uid, f"customer{uid}", f"Customer {uid}")
            template = self.rng.choice(COMPLAINTS + QUESTIONS)
            text = template.format(p=self.rng.choice(PRODUCTS), n=self.rng.randint(10000, 99999))
            ids.append(self.sim.post(uid, f"@acme {text}"))
            self.posted.append(ids[-1])
        return ids

    def streaming(self, condition: Callable[[], bool], per_look: int = 3) -> Callable[[], bool]:
        """Wrap a wait condition so that every look first posts `per_look` more mentions."""

        def post_then_look() -> bool:
            self.post(per_look)
            return condition()

        return post_then_look


def decisions(db: Engine) -> list[Any]:
    """Every decision in the order it was stored, with its message and thread."""
    m, d = t.messages, t.decisions
    with db.connect() as conn:
        return list(
            conn.execute(
                select(d.c.id, d.c.policy_version, d.c.rule_id, m.c.external_id, m.c.thread_id)
                .join(m, m.c.id == d.c.message_id)
                .order_by(d.c.id)
            ).all()
        )


def versions(db: Engine) -> dict[str, Any]:
    with db.connect() as conn:
        return {row.version: row for row in conn.execute(select(t.policy_versions))}


def settled(db: Engine, expected: int) -> bool:
    with db.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(t.messages)).scalar_one()
        new = conn.execute(
            select(func.count()).select_from(t.messages).where(t.messages.c.status == "new")
        ).scalar_one()
        open_sends = conn.execute(
            select(func.count()).select_from(t.outbox).where(t.outbox.c.status.in_(("pending", "sending")))
        ).scalar_one()
    return bool(stored == expected and new == 0 and open_sends == 0)


def test_a_running_service_swaps_policies_mid_stream_and_keeps_the_last_good_one(
    tmp_path: Path, sim: XSimulator
) -> None:
    policy_file = tmp_path / "policy.yaml"
    write_policy(policy_file, policy("[v1]"))
    v1 = load_policies([policy_file]).version
    db_url = f"sqlite:///{tmp_path / 'tactful.db'}"
    config = write_config(tmp_path, sim.base_url, db_url, workers=WORKERS)
    config.write_text(
        config.read_text() + f'\n[policy]\npath = "{policy_file}"\nreload_seconds = 0.3\n', encoding="utf-8"
    )
    log = tmp_path / "service.log"
    db = make_engine(db_url)
    customers = Customers(sim)

    customers.post(1)  # X's first-ever poll starts from "now": one mention first
    process = start_service(config, log)
    try:
        wait_for(lambda: db_ready(db) and len(decisions(db)) == 1, 60, "the first mention to be decided")
        # A steady stream: each look at the database first posts a few more mentions.
        wait_for(customers.streaming(lambda: len(decisions(db)) >= 30), 60, "the stream to be under way")

        write_policy(policy_file, policy("[v2]"))
        v2 = load_policies([policy_file]).version

        def both_workers_on_v2() -> bool:
            swapped = {row.thread_id % WORKERS for row in decisions(db) if row.policy_version == v2}
            return swapped == set(range(WORKERS))

        wait_for(customers.streaming(both_workers_on_v2), 60, "every worker to decide under the new policy")
        wait_for(customers.streaming(lambda: len(customers.posted) >= 150), 60, "more of the stream")

        write_policy(policy_file, policy("[v3]", template="ack_gone"))  # a template that does not exist
        wait_for(
            customers.streaming(lambda: any(row.status == "rejected" for row in versions(db).values())),
            30,
            "the invalid policy to be rejected",
        )
        after_rejection = customers.post(40)
        wait_for(lambda: settled(db, len(customers.posted)), 120, "every message to be decided and answered")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()

    decided = decisions(db)
    stored = versions(db)
    with db.connect() as conn:
        outbox = conn.execute(
            select(
                t.outbox.c.target_external_id, t.outbox.c.policy_version, t.outbox.c.text, t.outbox.c.status
            )
        ).all()
    db.dispose()
    cited = Counter(row.policy_version for row in decided)
    print(f"decisions by version {dict(cited)}, versions {[(v, r.status) for v, r in stored.items()]}")

    # Every message decided exactly once, and every acknowledgement sent exactly once.
    assert sorted(row.external_id for row in decided) == sorted(customers.posted)
    replies = Counter(reply.in_reply_to_tweet_id for reply in sim.brand_replies())
    assert [tweet for tweet, n in replies.items() if n > 1] == [], "a message was answered twice"
    assert set(replies) == {row.target_external_id for row in outbox}
    assert {row.status for row in outbox} == {"sent"}

    # Decisions cite the old version until their worker swapped, the new one after, never both ways.
    assert set(cited) == {v1, v2} and cited[v1] >= 30 and cited[v2] >= 40
    for worker in range(WORKERS):
        sequence = [row.policy_version for row in decided if row.thread_id % WORKERS == worker]
        swap = sequence.index(v2)
        assert set(sequence[:swap]) == {v1} and set(sequence[swap:]) == {v2}, f"worker {worker} swapped back"
    by_tweet = {row.external_id: row.policy_version for row in decided}
    assert {by_tweet[tweet] for tweet in after_rejection} == {v2}, "the invalid policy left v2 running"

    # Each reply carries the text of the version that decided it.
    texts = {reply.in_reply_to_tweet_id: reply.text for reply in sim.brand_replies()}
    for row in outbox:
        mark = "[v1]" if row.policy_version == v1 else "[v2]"
        assert texts[row.target_external_id].startswith(mark), texts[row.target_external_id]

    # Both versions stored as active, the invalid one as rejected with policy check's error lines.
    rejected = [row for row in stored.values() if row.status == "rejected"]
    assert stored[v1].status == stored[v2].status == "active"
    assert stored[v2].activated_at > stored[v1].activated_at
    assert len(rejected) == 1 and rejected[0].version not in cited
    assert f"{policy_file}:" in rejected[0].errors and "ack_gone" in rejected[0].errors
    service_log = log.read_text(encoding="utf-8")
    assert service_log.count("rejected with") == 1, "the errors are logged once"
    assert service_log.count("; keeping version") <= WORKERS
