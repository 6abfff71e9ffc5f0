"""The processing stage: stored messages -> batched moderation -> policy decisions -> outbox and queue."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any, Protocol

from sqlalchemy import Connection, Engine

from bots.base import PrivateRoute, SendKind
from moderation.classifier import ModerationInput
from moderation.heat import HeatInput, HeatState, update_heat
from moderation.history import AuthorHistory, apply_history
from moderation.verdict import Category, Verdict
from policies.decision import (
    Acknowledge,
    Action,
    Decision,
    DecisionContext,
    Hide,
    Ignore,
    MoveToPrivate,
    QueueForReview,
)
from storage.policy_versions import PolicyVersionFacts, record_used
from storage.send_budget import IdenticalTexts, worn_texts
from storage.work import (
    AuthorCounts,
    AuthorSendState,
    BatchOutcome,
    ConcurrentProcessing,
    PendingMessage,
    ThreadState,
    claim_new_messages,
    load_author_send_states,
    load_private_links,
    load_thread_states,
    own_accounts,
    read_partition,
    write_outcome,
)
from tactful.clock import Clock
from tactful.domain import Author, Channel, IncomingMessage, Platform

log = logging.getLogger(__name__)

PrivateRouter = Callable[[IncomingMessage], PrivateRoute | None]

#: The (platform, channel) pairs in shadow mode: their sends are recorded, never sent.
ShadowChannels = frozenset[tuple[str, str]]

#: The outbox status of a send decided in shadow mode: recorded, and never picked up by the sender.
SHADOW_STATUS = "shadow"

#: The built-in rule that joins a private chat opened from our link to its original thread.
PRIVATE_CHAT_RULE_ID = "private-chat-opened"
PRIVATE_CHAT_PRIORITY = 60
MOVE_IMPOSSIBLE_PRIORITY = 70
MOVE_IMPOSSIBLE = (
    "the policy asked to move this thread private, but this platform offers no private channel here"
)


class Scoring(Protocol):
    """Batched moderation (a `moderation.classifier.Moderator`)."""

    def classify(self, items: Sequence[ModerationInput]) -> list[Verdict]:
        """Return the verdicts of a batch, in order."""
        ...


class DecisionMaker(Protocol):
    """What the processing stage needs from a policy engine."""

    @property
    def version(self) -> str:
        """The policy version that decisions will cite."""
        ...

    @property
    def source(self) -> str:
        """Where the policy came from (a file path)."""
        ...

    @property
    def facts(self) -> PolicyVersionFacts:
        """What the policy_versions table records about this version (hash, files, author)."""
        ...

    @property
    def brand_name(self) -> str:
        """The brand's name, for templates."""
        ...

    @property
    def identical_texts(self) -> IdenticalTexts | None:
        """How often one text may go out per platform (None: no identical-text check)."""
        ...

    def decide(self, ctx: DecisionContext) -> Decision:
        """Return the decision for one message."""
        ...


@dataclass(frozen=True, slots=True)
class ProcessedMessage:
    """A summary of what happened to one message, for live output and logs."""

    message: IncomingMessage
    verdict: Verdict
    decision: Decision
    heat: float


_PLATFORMS = {platform.value: platform for platform in Platform}
_CHANNELS = {channel.value: channel for channel in Channel}


def to_incoming(row: PendingMessage) -> IncomingMessage:
    """Rebuild the normalised message from its stored row."""
    platform = _PLATFORMS.get(row.platform) or Platform(row.platform)  # an unknown value raises
    return IncomingMessage(
        platform=platform,
        channel=_CHANNELS.get(row.channel) or Channel(row.channel),
        external_id=row.external_id,
        thread_external_id=row.thread_external_id,
        author=Author(
            platform=platform,
            external_id=row.author_external_id,
            username=row.author_username,
            display_name=row.author_display_name,
            is_bot=row.author_is_bot,
        ),
        text=row.text,
        created_at=row.created_at,
        in_reply_to_external_id=row.in_reply_to_external_id,
        language_hint=row.language_hint,
        is_private=row.is_private,
        private_link_token=row.private_link_token,
    )


def action_to_dict(action: Action) -> dict[str, Any]:
    """Serialise an action value for the decisions table."""
    data: dict[str, Any] = {"type": type(action).__name__}
    for name in action.__slots__:
        value = getattr(action, name)
        data[name] = _isoformat(value, value.tzinfo) if isinstance(value, datetime) else value
    return data


@functools.lru_cache(maxsize=1024)
def _isoformat(value: datetime, zone: tzinfo | None) -> str:
    """ISO text of a datetime in its zone (part of the key: equal instants in two zones read differently).

    A batch's due times repeat by the minute, so each is formatted once.
    """
    return value.isoformat()


class Processor:
    """Runs moderation and the policy over stored messages in batches, one transaction per batch.

    Each batch is decided under the one policy `policy()` returns when the batch is stored, so a
    policy swapped in meanwhile applies from the next batch on. Messages from a (platform,
    channel) in `shadow` are decided and recorded as always, but their sends and hides get the
    outbox status `shadow`, which the sender never picks up. With `leased_partitions` (a
    processing worker), each batch reads only the threads of the partitions it returns, the
    ones this worker holds a lease on (tactful/leasing.py).
    """

    def __init__(
        self,
        db: Engine,
        scoring: Scoring,
        policy: Callable[[], DecisionMaker],
        clock: Clock,
        private_routes: Mapping[Platform, PrivateRouter] | None = None,
        observer: Callable[[ProcessedMessage], None] | None = None,
        claim_lease: timedelta = timedelta(seconds=60),
        partition: tuple[int, int] | None = None,
        owns_partition: bool = False,
        shadow: ShadowChannels = frozenset(),
        leased_partitions: Callable[[], tuple[Collection[int], int]] | None = None,
    ) -> None:
        self._db = db
        self._leased = leased_partitions
        self._scoring = scoring
        self._claim_lease = claim_lease
        self._partition = partition
        self._owns_partition = owns_partition and partition is not None
        self._policy = policy
        self._clock = clock
        self._private_routes = dict(private_routes or {})
        self._observer = observer
        self._recorded_versions: set[str] = set()
        self._shadow = shadow

    def process_batch(self, limit: int) -> int:
        """Claim, score, decide and store up to `limit` new messages; return how many."""
        rows = self._claim(limit)
        if not rows:
            return 0
        return self._finish(rows, self._score(rows))

    def drain(self, batch_size: int, max_batches: int = 1000) -> int:
        """Process batches until nothing new is left (bounded); return the total processed."""
        total = 0
        for _ in range(max_batches):
            rows = self._claim(batch_size)
            if not rows:
                break
            total += self._finish(rows, self._score(rows))
            if len(rows) < batch_size:
                break
        return total

    def _claim(self, limit: int) -> list[PendingMessage]:
        if self._leased is not None:
            owned, count = self._leased()  # renews the leases, at most once per tick, between batches
            if not owned:
                return []
            with self._db.connect() as conn:
                return read_partition(conn, limit, (owned, count))
        if self._owns_partition and self._partition is not None:
            with self._db.connect() as conn:
                return read_partition(conn, limit, self._partition)
        with self._db.begin() as conn:
            return claim_new_messages(conn, limit, self._clock.now(), self._claim_lease, self._partition)

    def _score(self, rows: list[PendingMessage]) -> list[Verdict]:
        return self._scoring.classify(
            [ModerationInput(text=r.text, language_hint=r.language_hint) for r in rows]
        )

    def _finish(self, pending: list[PendingMessage], verdicts: list[Verdict]) -> int:
        """Decide and store one scored batch in a single transaction (dropped if another worker won)."""
        try:
            return self._store(pending, verdicts)
        except ConcurrentProcessing as exc:
            log.warning("batch of %d discarded: %s", len(pending), exc)
            return 0

    def _store(self, pending: list[PendingMessage], verdicts: list[Verdict]) -> int:
        policy = self._policy()
        now = self._clock.now()
        with self._db.begin() as conn:
            if policy.version not in self._recorded_versions:
                record_used(conn, policy.facts, now)
                self._recorded_versions.add(policy.version)
            tokens = {row.private_link_token for row in pending if row.private_link_token}
            links = load_private_links(conn, tokens) if tokens else {}
            threads = load_thread_states(conn, {row.thread_id for row in pending} | set(links.values()))
            batch = _Batch(
                policy=policy,
                now=now,
                threads=threads,
                authors=load_author_send_states(
                    conn,
                    {row.author_id for row in pending},
                    now - timedelta(days=1),
                    # Outbox rows are written with the counters: an author none of whose messages
                    # were processed yet has none (the caps across workers are best effort anyway).
                    known={row.author_id for row in pending if row.author_messages},
                ),
                own=own_accounts(conn),
                links=links,
                outcome=BatchOutcome(threads=threads),
                worn=_worn_texts(conn, policy.identical_texts, {row.platform for row in pending}, now),
            )
            summaries = [
                self._decide_one(row, verdict, batch) for row, verdict in zip(pending, verdicts, strict=True)
            ]
            for thread_id, state in batch.heat.items():
                threads[thread_id].heat_state = state.to_dict()
            write_outcome(conn, batch.outcome, now)
        if self._observer is not None:
            for summary in summaries:
                if summary is not None:
                    self._observer(summary)
        return len(pending)

    def _decide_one(self, row: PendingMessage, verdict: Verdict, batch: _Batch) -> ProcessedMessage | None:
        """Decide one message into the batch's outcome; return its summary when someone observes them."""
        message = to_incoming(row)
        now, outcome = batch.now, batch.outcome
        thread = batch.threads[row.thread_id]
        author = batch.authors[row.author_id]
        from_own = (row.platform, row.author_external_id) in batch.own
        if not from_own and not row.author_is_bot:
            outcome.customer_messages.append(row.id)
        verdict = self._weigh_history(row, verdict, batch)
        state = batch.heat.get(row.thread_id)
        if state is None and thread.heat_state:
            state = HeatState.from_dict(thread.heat_state)
        state = update_heat(
            state,
            HeatInput(
                author_id=row.author_external_id,
                created_at=message.created_at,
                text=message.text,
                verdict=verdict,
                from_brand=from_own,
            ),
        )
        batch.heat[row.thread_id] = state
        thread.heat = state.heat
        thread.last_message_at = max(thread.last_message_at, message.created_at)
        thread.changed = True
        router = self._private_routes.get(message.platform)
        route = router(message) if router is not None else None
        linked_thread_id = batch.links.get(row.private_link_token) if row.private_link_token else None
        if linked_thread_id is not None:
            decision = self._private_chat_opened(row, linked_thread_id, batch)
        else:
            decision = batch.policy.decide(
                DecisionContext(
                    message=message,
                    verdict=verdict,
                    now=now,
                    thread_heat=thread.heat,
                    thread_acknowledged=thread.acknowledged,
                    thread_moved_private=thread.moved_private,
                    author_acks_today=author.sends_last_day,
                    last_variant_to_author=author.last_variant,
                    from_own_account=from_own,
                    private_channel_link=route.link if route is not None else None,
                    brand_name=batch.policy.brand_name,
                    worn_texts=batch.worn.get(row.platform, _NOTHING_WORN),
                )
            )
        outcome.message_ids.append(row.id)
        outcome.verdicts.append(_verdict_row(row.id, verdict, now))
        outcome.decisions.append(
            {
                "message_id": row.id,
                "rule_id": decision.rule_id,
                "policy_version": decision.policy_version,
                "actions": [action_to_dict(a) for a in decision.actions],
                "explanation": decision.explanation,
                "created_at": now,
            }
        )
        first_send = len(outcome.outbox)
        for action in decision.actions:
            self._apply(action, row, decision, route, batch, linked_thread_id or row.thread_id)
        if (row.platform, row.channel) in self._shadow:
            for send in outcome.outbox[first_send:]:
                send["status"] = SHADOW_STATUS
        if self._observer is None:
            return None
        return ProcessedMessage(message=message, verdict=verdict, decision=decision, heat=thread.heat)

    def _weigh_history(self, row: PendingMessage, verdict: Verdict, batch: _Batch) -> Verdict:
        """Adjust the verdict for the author's history, then count this message in it."""
        history = batch.histories.get(row.author_id)
        if history is None:
            history = batch.histories[row.author_id] = AuthorHistory(
                row.author_messages, row.author_trolls, row.author_first_message_at, row.author_last_troll_at
            )
        verdict = apply_history(verdict, history, row.created_at)
        history.record(verdict, row.created_at)
        counts = batch.outcome.author_history.get(row.author_id)
        if counts is None:
            counts = batch.outcome.author_history[row.author_id] = AuthorCounts()
        counts.add(row.created_at, verdict.category is Category.TROLL)
        return verdict

    def _private_chat_opened(self, row: PendingMessage, original_thread_id: int, batch: _Batch) -> Decision:
        """Join a private chat opened from our link to the original thread and its queue item."""
        original = batch.threads[original_thread_id]
        batch.outcome.thread_links.append(
            {
                "token": row.private_link_token,
                "private_thread_id": row.thread_id,
                "thread_id": original_thread_id,
                "used_at": batch.now,
            }
        )
        priority = max(original.open_item_priority, PRIVATE_CHAT_PRIORITY)
        return Decision(
            PRIVATE_CHAT_RULE_ID,
            batch.policy.version,
            (QueueForReview(priority, "the customer opened the private chat from our link: continue there"),),
            f"rule {PRIVATE_CHAT_RULE_ID}: private chat {row.thread_external_id} continues thread "
            f"{original_thread_id}; queued with it for a person",
        )

    def _apply(
        self,
        action: Action,
        row: PendingMessage,
        decision: Decision,
        route: PrivateRoute | None,
        batch: _Batch,
        queue_thread_id: int,
    ) -> None:
        outcome, now = batch.outcome, batch.now
        thread = batch.threads[row.thread_id]
        author = batch.authors[row.author_id]
        if isinstance(action, Acknowledge):
            kind = SendKind.DIRECT_MESSAGE if row.is_private else SendKind.PUBLIC_REPLY
            outcome.outbox.append(_outbox_row(row, decision, kind, "ack", now, action.text, template=action))
            if action.promised_at is not None:
                outcome.promises.append(
                    _promise_row(row, outcome.outbox[-1], action.promised_at, queue_thread_id, now)
                )
            thread.acknowledged = True
            author.sends_last_day += 1
            author.last_variant = (action.template_id, action.variant)
        elif isinstance(action, MoveToPrivate):
            if route is None:
                self._queue(
                    row, QueueForReview(MOVE_IMPOSSIBLE_PRIORITY, MOVE_IMPOSSIBLE), batch, row.thread_id
                )
                return
            outcome.outbox.append(
                _outbox_row(
                    row,
                    decision,
                    route.kind,
                    "private",
                    now,
                    action.private_text,
                    template=action,
                    fallback=action.fallback_text if route.link else None,
                    link=route.link,
                )
            )
            if action.promised_at is not None:
                outcome.promises.append(
                    _promise_row(row, outcome.outbox[-1], action.promised_at, queue_thread_id, now)
                )
            if route.token is not None:
                outcome.private_links.append(
                    {
                        "token": route.token,
                        "platform": row.platform,
                        "thread_id": row.thread_id,
                        "message_id": row.id,
                        "created_at": now,
                    }
                )
            thread.moved_private = True
            author.sends_last_day += 1
            author.last_variant = (action.template_id, action.variant)
        elif isinstance(action, Hide):
            outcome.outbox.append(_outbox_row(row, decision, SendKind.HIDE, "hide", now, None))
        elif isinstance(action, QueueForReview):
            self._queue(row, action, batch, queue_thread_id)
        elif isinstance(action, Ignore):
            pass
        else:  # pragma: no cover - exhaustive over Action
            raise TypeError(f"unknown action {action!r}")

    def _queue(self, row: PendingMessage, action: QueueForReview, batch: _Batch, thread_id: int) -> None:
        """Open a review item for the thread, or add the message to the one already open."""
        outcome, now = batch.outcome, batch.now
        thread = batch.threads[thread_id]
        if thread.open_item_id is not None:
            thread.open_item_priority = max(thread.open_item_priority, action.priority)
            update = outcome.review_updates.setdefault(
                thread.open_item_id,
                {
                    "item_id": thread.open_item_id,
                    "thread_id": thread_id,
                    "platform": row.platform,
                    "added": 0,
                },
            )
            update.update(
                priority=thread.open_item_priority,
                latest_message_id=row.id,
                latest_reason=action.reason,
                added=update["added"] + 1,
                due_at=_earliest(update.get("due_at"), action.due_at),
            )
            return
        item = outcome.new_review_items.get(thread_id)
        if item is None:
            outcome.new_review_items[thread_id] = {
                "thread_id": thread_id,
                "message_id": row.id,
                "platform": row.platform,
                "priority": action.priority,
                "reason": action.reason,
                "status": "open",
                "message_count": 1,
                "created_at": now,
                "updated_at": now,
                "due_at": action.due_at,
            }
            return
        item.update(
            priority=max(item["priority"], action.priority),
            message_id=row.id,
            reason=action.reason,
            message_count=item["message_count"] + 1,
            updated_at=now,
            due_at=_earliest(item["due_at"], action.due_at),
        )


@dataclass(slots=True)
class _Batch:
    """What deciding one batch needs: the policy, the time, loaded state and the rows being built."""

    policy: DecisionMaker
    now: datetime
    threads: dict[int, ThreadState]
    authors: dict[int, AuthorSendState]
    own: set[tuple[str, str]]
    links: dict[str, int]
    outcome: BatchOutcome
    heat: dict[int, HeatState] = field(default_factory=dict)
    histories: dict[int, AuthorHistory] = field(default_factory=dict)  # by author id, as of each message
    worn: dict[str, frozenset[str]] = field(default_factory=dict)  # texts worn out, by platform


_NOTHING_WORN: frozenset[str] = frozenset()


def _worn_texts(
    conn: Connection, identical: IdenticalTexts | None, platforms: set[str], now: datetime
) -> dict[str, frozenset[str]]:
    """The texts each platform of the batch already sent as often as the identical-text check allows."""
    if identical is None:
        return {}
    since = now - identical.window
    return {
        platform: worn_texts(conn, platform, since, identical.max_sends) for platform in sorted(platforms)
    }


def _earliest(first: datetime | None, second: datetime | None) -> datetime | None:
    """The earlier of two due times, either of which may be unknown."""
    if first is None or second is None:
        return first or second
    return min(first, second)


def _promise_row(
    row: PendingMessage, outbox: dict[str, Any], promised_at: datetime, thread_id: int, now: datetime
) -> dict[str, Any]:
    """The promise a send makes, kept by a person answering the conversation of `thread_id`."""
    return {
        "outbox_key": outbox["idempotency_key"],
        "message_id": row.id,
        "thread_id": thread_id,
        "platform": row.platform,
        "channel": row.channel,
        "promised_at": promised_at,
        "made_at": now,
        "status": "pending",
    }


def _verdict_row(message_id: int, verdict: Verdict, now: Any) -> dict[str, Any]:
    return {
        "message_id": message_id,
        "category": verdict.category.value,
        "sentiment": verdict.sentiment.value,
        "sentiment_score": verdict.sentiment_score,
        "toxicity": verdict.toxicity,
        "complaint": verdict.complaint,
        "language": verdict.language,
        "confidence": verdict.confidence,
        "explanation": verdict.explanation,
        "keywords": list(verdict.keywords),
        "signals": {name: value for name, value in verdict.signals.items() if value},
        "model": verdict.model,
        "created_at": now,
    }


def _outbox_row(
    row: PendingMessage,
    decision: Decision,
    kind: SendKind,
    suffix: str,
    now: datetime,
    text: str | None,
    *,
    template: Acknowledge | MoveToPrivate | None = None,
    fallback: str | None = None,
    link: str | None = None,
) -> dict[str, Any]:
    return {
        "idempotency_key": f"{row.platform}:{row.external_id}:{suffix}",
        "message_id": row.id,
        "thread_id": row.thread_id,
        "author_id": row.author_id,
        "platform": row.platform,
        "kind": kind.value,
        "thread_external_id": row.thread_external_id,
        "target_external_id": row.external_id,
        "recipient_external_id": row.author_external_id,
        "text": text,
        "fallback_text": fallback,
        "private_link": link,
        "source_created_at": row.created_at,
        "template_id": template.template_id if template is not None else None,
        "variant": template.variant if template is not None else None,
        "rule_id": decision.rule_id,
        "policy_version": decision.policy_version,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }
