"""Policy replay speed on SQLite, checked against a full pipeline re-run under the new policy.

History: `count` generated X mentions (one a second, so more than a day of it at 100,000), stored
and processed by the real pipeline (Processor, default policy, the clock following the messages).
The replay re-decides that history under a changed policy (trolls hidden, questions no longer
acknowledged, praise acknowledged, a lower heat line, a lower daily cap). The check: the same
messages processed from scratch by the pipeline under the changed policy in a second database;
its decisions' action counts (and each message's actions) must equal the replay's.
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from moderation.classifier import ModerationInput, Moderator
from moderation.verdict import Verdict
from policies.loader import LoadedPolicy, default_policy_path, load_policies
from simulator.generate import generate_messages
from storage import tables as t
from storage.db import make_engine
from storage.ingest import store_fetch
from storage.migrate import upgrade
from tactful.clock import FrozenClock
from tactful.domain import IncomingMessage, Platform
from tactful.platforms import x_private_route
from tactful.policy_source import ActivePolicy
from tactful.processing import Processor
from tactful.replay import Replayer, replay_policy
from tactful.replay_report import action_name
from tactful.settings import XSettings

BATCH = 500
TARGET_SECONDS = 60.0
#: The candidate policy: layered over the shipped default.
CHANGES = """
rules:
  - id: troll
    when: {category: [troll], min_confidence: 0.7}
    then:
      - hide: "troll: hidden"
      - queue: {priority: 10, reason: "troll hidden: check it was one"}
  - id: heated-thread
    when: {min_heat: 0.45, category: [complaint, other], is_private: false}
    then:
      - move_to_private: {template: dm_heated, fallback: invite_private}
      - queue: {priority: 90, reason: "heated thread: follow up personally"}
  - id: question
    when: {category: [question]}
    then:
      - queue: {priority: 50, reason: "question: answer it"}
  - id: praise
    when: {category: [praise]}
    then:
      - acknowledge: thanks
      - queue: {priority: 20, reason: "praise: thank them personally"}
safety:
  max_acks_per_author_per_day: 2
templates:
  thanks:
    en:
      - "Thank you, {first_name}! That made our day."
      - "{first_name}, thanks a lot for the kind words!"
"""


class _Remembered:
    """Scoring that returns the verdicts computed once up front (both pipeline runs see the same ones)."""

    def __init__(self, moderator: Moderator, messages: Sequence[IncomingMessage]) -> None:
        inputs = [ModerationInput(m.text, m.language_hint) for m in messages]
        verdicts: list[Verdict] = []
        for i in range(0, len(inputs), BATCH):
            verdicts += moderator.classify(inputs[i : i + BATCH])
        self._by_input = {(i.text, i.language_hint): v for i, v in zip(inputs, verdicts, strict=True)}

    def classify(self, items: Sequence[ModerationInput]) -> list[Verdict]:
        """The remembered verdict of each input."""
        return [self._by_input[(item.text, item.language_hint)] for item in items]


def run_policy_replay_bench(count: int = 100_000) -> dict[str, float]:
    """Build `count` messages of history, time the replay under a changed policy, check it; print the figures."""
    messages = list(generate_messages(count, authors=max(50, count // 50)))
    routes = {Platform.X: x_private_route(XSettings(user_id="1000"))}
    scoring = _Remembered(Moderator(), messages)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        changes = folder / "changes.yaml"
        changes.write_text(CHANGES, encoding="utf-8")
        old = load_policies([default_policy_path()])
        new = load_policies([default_policy_path(), changes])
        history = _database(folder / "history.db")
        built = _process(history, messages, scoring, old, routes)
        oracle = _database(folder / "oracle.db")
        _process(oracle, messages, scoring, new, routes)

        result = replay_policy(history, new, private_routes=routes)
        per_message = {
            item.row.message.external_id: _kinds(item.actions)
            for item in Replayer(new, routes).run(history, None)
        }
        expected = _decided(oracle)
        history.dispose()
        oracle.dispose()
    after = {kind: counts["after"] for kind, counts in result.report["actions"].items()}
    oracle_counts = Counter(kind for kinds in expected.values() for kind in kinds)
    counts_match = all(after[kind] == oracle_counts.get(kind, 0) for kind in after) and set(
        oracle_counts
    ) <= set(after)
    differing = sum(per_message.get(ref) != kinds for ref, kinds in expected.items())
    rate = result.report["messages"] / result.seconds
    verdict = "under" if result.seconds < TARGET_SECONDS else "OVER"
    print(
        f"policy replay benchmark: {count} stored messages (history built by the pipeline in "
        f"{built:.1f} s), SQLite"
    )
    print(
        f"  replay under a changed policy          {result.seconds:8.2f} s   {rate:8.0f} msg/s   "
        f"({verdict} the {TARGET_SECONDS:.0f} s target)"
    )
    print(f"  {'action':<18}{'before':>9}{'after':>9}{'re-run':>9}")
    for kind, counts in result.report["actions"].items():
        print(f"  {kind:<18}{counts['before']:>9}{counts['after']:>9}{oracle_counts.get(kind, 0):>9}")
    print(
        f"  changed {result.report['changed']['total']}, acknowledgements started "
        f"{result.report['acks_started']['total']} and stopped {result.report['acks_stopped']['total']}, "
        f"trolls newly hidden {result.report['trolls_newly_hidden']['total']}"
    )
    print(
        f"  counts equal a full pipeline re-run under the new policy: {'yes' if counts_match else 'NO'}; "
        f"messages whose actions differ from the re-run: {differing}"
    )
    if not counts_match or differing:
        raise RuntimeError("the replay's counts differ from a full re-run under the new policy")
    return {"seconds": result.seconds, "rate": rate, "differing": float(differing)}


def _database(path: Path) -> Engine:
    db = make_engine(f"sqlite:///{path}")
    upgrade(db)
    return db


def _process(
    db: Engine,
    messages: list[IncomingMessage],
    scoring: _Remembered,
    loaded: LoadedPolicy,
    routes: dict[Platform, Any],
) -> float:
    """Store the messages and process them batch by batch, the clock a second after each batch's last message."""
    start = time.perf_counter()
    clock = FrozenClock(messages[0].created_at)
    for i in range(0, len(messages), BATCH):
        store_fetch(db, "bench", messages[i : i + BATCH], str(i), [], clock.now())
    active = ActivePolicy(loaded)
    processor = Processor(db, scoring, lambda: active, clock, private_routes=routes)
    for i in range(0, len(messages), BATCH):
        clock.set(messages[min(i + BATCH, len(messages)) - 1].created_at)
        clock.advance(1)
        processor.process_batch(BATCH)
    return time.perf_counter() - start


def _kinds(actions: list[dict[str, Any]]) -> tuple[str, ...]:
    return tuple(sorted(action_name(action) for action in actions))


def _decided(db: Engine) -> dict[str, tuple[str, ...]]:
    """Each message's action kinds as the pipeline decided them, by external id."""
    m, d = t.messages, t.decisions
    with db.connect() as conn:
        rows = conn.execute(select(m.c.external_id, d.c.actions).join(d, d.c.message_id == m.c.id)).all()
    return {external_id: _kinds(actions) for external_id, actions in rows}
