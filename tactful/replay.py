"""Policy replay: re-decide stored history under another policy, sending nothing, and report what changes.

Each stored message is decided again, in id order (the order the pipeline processed it), from its
STORED verdict (moderation is not run again) with a decision context rebuilt as the pipeline built
it:

- thread heat: recomputed message by message from the stored verdicts with the heat model, as the
  pipeline did (exact when the thread's history is all replayed);
- the thread's acknowledged / moved-private flags, the author's automated sends in the last day and
  the last template variant they received evolve under the NEW policy's own decisions; people's
  replies and moves to private (outbox keys `human:…`) are applied at the time they were queued;
- `now` is the stored decision's time; own accounts come from the accounts table; the private
  channel link from the configured platforms' private routes, as `tactful run` has them;
- messages the pipeline joined to a thread through a private-chat link (rule `private-chat-opened`)
  are not policy decisions and keep their stored decision.

With `since`, messages created before it are not re-decided. The day before it is read as
context (the stored decisions are applied, so daily caps and heat start as they were); flags of
threads from further back come from the outbox. Approximated: heat starts cold a day before
`since`; the variant an author last received before that day is unknown; and people's actions are
replayed as they happened although the new policy might have led them to act otherwise.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from bots.base import PrivateRoute
from moderation.heat import HeatInput, HeatState, update_heat
from moderation.verdict import Category, Sentiment, Verdict
from policies.decision import Decision, DecisionContext
from policies.engine import PolicyEngine
from policies.loader import LoadedPolicy
from storage.replays import HumanSend, StoredRow, earlier_thread_flags, human_sends, stream_history
from storage.work import own_accounts
from tactful.domain import IncomingMessage, Platform
from tactful.processing import PRIVATE_CHAT_RULE_ID, action_to_dict, to_incoming
from tactful.replay_report import ReplayTally

PrivateRouter = Callable[[IncomingMessage], PrivateRoute | None]

#: How far before `since` stored decisions are read as context (the per-author cap counts one day).
CONTEXT = timedelta(days=1)
DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Redecided:
    """One replayed message: its stored row (verdict and decision) and the new decision's actions."""

    row: StoredRow
    rule_id: str
    actions: list[dict[str, Any]]
    redecided: bool  # False when the stored decision was kept (private-chat link)


@dataclass(slots=True)
class _Thread:
    acknowledged: bool = False
    moved_private: bool = False
    heat: HeatState | None = None


@dataclass(slots=True)
class _Author:
    sends: deque[datetime] = field(default_factory=deque)  # times of sends, oldest first
    last_variant: tuple[str, int] | None = None

    def sends_in_day(self, now: datetime) -> int:
        """Sends in the day before `now` (older ones are dropped)."""
        while self.sends and self.sends[0] < now - DAY:
            self.sends.popleft()
        return len(self.sends)


def verdict_of(row: StoredRow) -> Verdict:
    """The stored verdict as the engine sees it."""
    return Verdict(
        category=Category(row.category),
        sentiment=Sentiment(row.sentiment),
        sentiment_score=row.sentiment_score,
        toxicity=row.toxicity,
        complaint=row.complaint,
        language=row.language,
        confidence=row.confidence,
        explanation=row.explanation,
        keywords=tuple(row.keywords or ()),
        signals=dict(row.signals or {}),
        model=row.model,
    )


class Replayer:
    """Re-decides stored history with one engine, keeping thread and author state as the pipeline would."""

    def __init__(
        self,
        loaded: LoadedPolicy,
        private_routes: Mapping[Platform, PrivateRouter] | None = None,
    ) -> None:
        self.loaded = loaded
        self.engine = PolicyEngine(loaded)
        self._brand = loaded.policy.brand.name
        self._routes = dict(private_routes or {})
        self._threads: dict[int, _Thread] = {}
        self._authors: dict[int, _Author] = {}
        self._humans: deque[HumanSend] = deque()
        self._own: set[tuple[str, str]] = set()

    def run(self, db: Engine, since: datetime | None, chunk: int | None = None) -> Iterator[Redecided]:
        """Yield every processed message created from `since` on (all when None), re-decided."""
        start = None if since is None else since - CONTEXT
        with db.connect() as conn:
            self._own = own_accounts(conn)
            self._humans = deque(human_sends(conn, start))
            stream = stream_history(conn, start) if chunk is None else stream_history(conn, start, chunk)
            for rows in stream:
                if start is not None:
                    fresh = {row.message.thread_id for row in rows} - self._threads.keys()
                    for thread_id, (acked, moved) in earlier_thread_flags(conn, fresh, start).items():
                        self._threads[thread_id] = _Thread(acked, moved)
                for row in rows:
                    if since is not None and row.message.created_at < since:
                        self._context(row)
                    else:
                        yield self._redecide(row)

    def _people_until(self, now: datetime) -> None:
        """Apply people's sends queued before `now`."""
        humans = self._humans
        while humans and humans[0].at < now:
            send = humans.popleft()
            thread = self._thread(send.thread_id)
            if send.moved_private:
                thread.moved_private = True
            else:
                thread.acknowledged = True
            self._author(send.author_id).sends.append(send.at)

    def _thread(self, thread_id: int) -> _Thread:
        thread = self._threads.get(thread_id)
        if thread is None:
            thread = self._threads[thread_id] = _Thread()
        return thread

    def _author(self, author_id: int) -> _Author:
        author = self._authors.get(author_id)
        if author is None:
            author = self._authors[author_id] = _Author()
        return author

    def _heat(self, row: StoredRow, verdict: Verdict, from_own: bool) -> float:
        pending = row.message
        thread = self._thread(pending.thread_id)
        thread.heat = update_heat(
            thread.heat,
            HeatInput(
                author_id=pending.author_external_id,
                created_at=pending.created_at,
                text=pending.text,
                verdict=verdict,
                from_brand=from_own,
            ),
        )
        return thread.heat.heat

    def _context(self, row: StoredRow) -> None:
        """A message before the window: its stored decision shapes the state, nothing is reported."""
        pending = row.message
        self._people_until(row.decided_at)
        from_own = (pending.platform, pending.author_external_id) in self._own
        self._heat(row, verdict_of(row), from_own)
        self._record(row, row.actions, row.decided_at, self._route(to_incoming(pending)))

    def _redecide(self, row: StoredRow) -> Redecided:
        pending, now = row.message, row.decided_at
        self._people_until(now)
        verdict = verdict_of(row)
        from_own = (pending.platform, pending.author_external_id) in self._own
        heat = self._heat(row, verdict, from_own)
        if row.rule_id == PRIVATE_CHAT_RULE_ID:
            return Redecided(row, row.rule_id, row.actions, redecided=False)
        message = to_incoming(pending)
        thread = self._thread(pending.thread_id)
        author = self._author(pending.author_id)
        route = self._route(message)
        decision: Decision = self.engine.decide(
            DecisionContext(
                message=message,
                verdict=verdict,
                now=now,
                thread_heat=heat,
                thread_acknowledged=thread.acknowledged,
                thread_moved_private=thread.moved_private,
                author_acks_today=author.sends_in_day(now),
                last_variant_to_author=author.last_variant,
                from_own_account=from_own,
                private_channel_link=route.link if route is not None else None,
                brand_name=self._brand,
            )
        )
        actions = [action_to_dict(action) for action in decision.actions]
        self._record(row, actions, now, route)
        return Redecided(row, decision.rule_id, actions, redecided=True)

    def _route(self, message: IncomingMessage) -> PrivateRoute | None:
        router = self._routes.get(message.platform)
        return router(message) if router is not None else None

    def _record(
        self, row: StoredRow, actions: list[dict[str, Any]], now: datetime, route: PrivateRoute | None
    ) -> None:
        """Update thread and author state for a decision's sends, as the pipeline's outbox writes do."""
        pending = row.message
        for action in actions:
            kind = action.get("type")
            if kind == "Acknowledge":
                self._thread(pending.thread_id).acknowledged = True
            elif kind == "MoveToPrivate" and route is not None:  # without a route a person is asked instead
                self._thread(pending.thread_id).moved_private = True
            else:
                continue
            author = self._author(pending.author_id)
            author.sends.append(now)
            author.last_variant = (action["template_id"], action["variant"])


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """A finished replay: the report (JSON-ready) and how long it took."""

    report: dict[str, Any]
    seconds: float


def replay_policy(
    db: Engine,
    loaded: LoadedPolicy,
    *,
    since: datetime | None = None,
    private_routes: Mapping[Platform, PrivateRouter] | None = None,
    shown: int | None = None,
) -> ReplayResult:
    """Re-decide stored history under `loaded` and tally what would change; nothing is written."""
    started = time.perf_counter()
    tally = ReplayTally() if shown is None else ReplayTally(shown=shown)
    for item in Replayer(loaded, private_routes).run(db, since):
        tally.add(item.row, item.rule_id, item.actions, item.redecided)
    seconds = time.perf_counter() - started
    report = tally.report(policy_version=loaded.version, source=loaded.source, since=since, seconds=seconds)
    return ReplayResult(report, seconds)
