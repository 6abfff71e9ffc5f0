"""The whole loop on X: simulator -> tweepy listener -> store -> moderation -> policy -> outbox -> bot."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from simulator.script import TrafficScript, load_script
from simulator.x import XSimulator
from storage import tables as t
from tactful.cli import main as tactful_main
from tactful.service import Service, build_service
from tactful.settings import load_settings
from tests.e2e_helpers import SECRET_ENV, add_script_users, play_all, write_config


@pytest.fixture
def script() -> TrafficScript:
    return load_script()


@pytest.fixture
def sim(script: TrafficScript) -> Iterator[XSimulator]:
    simulator = XSimulator(script.brand_user_id, script.brand_username)
    add_script_users(simulator, script)
    simulator.start()
    yield simulator
    simulator.stop()


@pytest.fixture
def service(
    tmp_path: Path, sim: XSimulator, monkeypatch: pytest.MonkeyPatch, db_url: str
) -> Iterator[Service]:
    for key, value in SECRET_ENV.items():
        monkeypatch.setenv(key, value)
    config = write_config(tmp_path, sim.base_url, db_url)
    monkeypatch.setenv("TACTFUL_CONFIG", str(config))
    svc = build_service(load_settings(config))
    yield svc
    svc.close()


def run_until_quiet(service: Service, rounds: int = 5) -> None:
    for _ in range(rounds):
        service.step()


def decisions_by_tweet(service: Service) -> dict[str, tuple[str, str, list[str]]]:
    m, v, d = t.messages, t.verdicts, t.decisions
    with service.db.connect() as conn:
        rows = conn.execute(
            select(m.c.external_id, v.c.category, d.c.rule_id, d.c.actions)
            .join(v, v.c.message_id == m.c.id)
            .join(d, d.c.message_id == m.c.id)
        )
        return {ext: (cat, rule, [a["type"] for a in actions]) for ext, cat, rule, actions in rows}


def test_scripted_traffic_end_to_end(
    service: Service, sim: XSimulator, script: TrafficScript, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = play_all(sim, script)
    run_until_quiet(service)

    # Every scripted mention is stored exactly once.
    with service.db.connect() as conn:
        stored = [row[0] for row in conn.execute(select(t.messages.c.external_id))]
        pending = conn.execute(
            select(func.count()).select_from(t.outbox).where(t.outbox.c.status.in_(("pending", "sending")))
        ).scalar_one()
    tweet_ids = {ids[str(i)] for i in range(len(script.events))}
    assert sorted(stored) == sorted(tweet_ids)
    assert pending == 0

    decided = decisions_by_tweet(service)
    replies = Counter(r.in_reply_to_tweet_id for r in sim.brand_replies())
    dms = sim.brand_dms()

    # Nobody gets more than one automated answer per message.
    assert all(n == 1 for n in replies.values())
    # Every acknowledgement the policy decided reached the simulator, in reply to that message.
    for tweet_id, (_category, _rule, actions) in decided.items():
        if "Acknowledge" in actions:
            assert replies[tweet_id] == 1, tweet_id
    # Complaints and questions get an acknowledgement (or a private-channel move); trolls and spam get none.
    answered = {
        tid for tid, (_c, _r, acts) in decided.items() if {"Acknowledge", "MoveToPrivate"} & set(acts)
    }
    by_category: dict[str, set[str]] = {}
    for tid, (category, _r, _a) in decided.items():
        by_category.setdefault(category, set()).add(tid)
    for tid in by_category.get("troll", set()) | by_category.get("spam", set()):
        assert tid not in answered
        assert replies[tid] == 0
    complaints_and_questions = by_category.get("complaint", set()) | by_category.get("question", set())
    assert len(complaints_and_questions) >= 12
    # Each is answered, unless it sits in a thread already answered, or its language has no templates.
    unanswered = {tid for tid in complaints_and_questions if tid not in answered}
    for tid in unanswered:
        _c, rule, actions = decided[tid]
        assert "QueueForReview" in actions, (tid, rule)
    assert len(unanswered) <= 4

    # Specific scripted people: a genuine complaint, a troll, spam.
    assert decided[ids["0"]][0] == "complaint" and replies[ids["0"]] == 1
    assert decided[ids["3"]][0] == "troll" and replies[ids["3"]] == 0
    assert decided[ids["5"]][0] == "spam" and replies[ids["5"]] == 0

    # The heated thread was taken private: Dan does not accept DMs, so he gets the public DM link once.
    heated = {ids["heat"]} | {ids[str(i)] for i, e in enumerate(script.events) if e.reply_to == "heat"}
    moves = [tid for tid in heated if "MoveToPrivate" in decided[tid][2]]
    assert len(moves) == 1
    move_target = moves[0]
    dm_or_link = [d for d in dms if d.recipient_id in {"2004", "2011", "2015"}]
    public_links = [
        r for r in sim.brand_replies() if r.in_reply_to_tweet_id == move_target and "x.com/messages" in r.text
    ]
    assert len(dm_or_link) + len(public_links) == 1

    # The rest waits for people, most urgent first.
    assert tactful_main(["queue", "list", "--json"]) == 0
    queue = json.loads(capsys.readouterr().out)
    assert queue, "the review queue is empty"
    priorities = [item["priority"] for item in queue]
    assert priorities == sorted(priorities, reverse=True)
    queued_tweets = {item["message_external_id"] for item in queue}
    queued_threads = {item["thread_external_id"] for item in queue}
    assert ids["heat"] in queued_threads
    assert ids["3"] not in {tid for tid in queued_tweets if replies[tid]}


def test_second_run_sends_nothing_new(service: Service, sim: XSimulator, script: TrafficScript) -> None:
    play_all(sim, script)
    run_until_quiet(service)
    before = (len(sim.brand_replies()), len(sim.brand_dms()))
    run_until_quiet(service)
    assert (len(sim.brand_replies()), len(sim.brand_dms())) == before
