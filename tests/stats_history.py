"""A generated customer-service history with known answers, for the response-time metrics tests.

Each conversation is generated with its platform, channel, start, follow-up messages and the
brand's responses, so the expected metrics are known without the conversation rules: the
next conversation of the same thread and author starts only where those rules say a new one
starts (24 hours of silence; or, except on Messenger, after a person answered).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from storage import tables as t
from storage.bulk import execute_many

ACCOUNTS = (
    (1, "facebook", "111", "acme-page"),
    (2, "x", "222", "acme"),
    (3, "telegram", "333", "acme_bot"),
)
SOURCES = {
    "facebook": "facebook:conversations:111",
    "x": "x:mentions:222",
    "telegram": "telegram:updates:333",
}
CHANNELS = (("facebook", "direct"), ("facebook", "comment"), ("x", "mention"), ("telegram", "group"))
ACCOUNT_OF = {"facebook": "acme-page", "x": "acme", "telegram": "acme_bot"}
#: The documented default targets (tactful.response_targets), in seconds.
TARGETS = {("facebook", "direct"): 900, ("facebook", "comment"): 3600, ("x", "mention"): 3600}
FALLBACK_TARGET = 3600


@dataclass
class GenConversation:
    """One generated conversation and what the brand did."""

    platform: str
    channel: str
    start: datetime
    followups: list[datetime] = field(default_factory=list)
    human: list[datetime] = field(default_factory=list)  # every human send, in order
    automated: list[datetime] = field(default_factory=list)

    def last_activity(self) -> datetime:
        """When either side last wrote."""
        return max([self.start, *self.followups, *self.human, *self.automated])


def _delay(rng: random.Random) -> int:
    """A first human response delay in seconds: mostly minutes, some hours, a few over a day."""
    roll = rng.random()
    if roll < 0.45:
        return rng.randint(20, 900)
    if roll < 0.8:
        return rng.randint(901, 3 * 3600)
    if roll < 0.95:
        return rng.randint(3 * 3600, 20 * 3600)
    return rng.randint(24 * 3600 + 1, 30 * 3600)


def generate(seed: int, conversations: int, start: datetime, span: timedelta) -> list[list[GenConversation]]:
    """Conversations grouped by (thread, author), in time order within each group."""
    rng = random.Random(seed)
    keys: list[list[GenConversation]] = []
    made = 0
    span_s = int(span.total_seconds())
    while made < conversations:
        platform, channel = rng.choice(CHANNELS)
        messenger = (platform, channel) == ("facebook", "direct")
        at = start + timedelta(seconds=rng.randint(0, span_s))
        chain: list[GenConversation] = []
        for _ in range(rng.randint(1, 6)):
            if made >= conversations or at > start + span:
                break
            conv = GenConversation(platform, channel, at)
            if rng.random() < 0.6:
                conv.automated.append(at + timedelta(seconds=rng.randint(1, 60)))
            human_at = at + timedelta(seconds=_delay(rng)) if rng.random() < 0.75 else None
            for _ in range(rng.randint(0, 2)):  # follow-ups before any person answered
                follow = at + timedelta(seconds=rng.randint(5, 600))
                if human_at is None or follow < human_at:
                    conv.followups.append(follow)
            if human_at is not None:
                conv.human.append(human_at)
                if rng.random() < 0.3:
                    conv.human.append(human_at + timedelta(seconds=rng.randint(30, 600)))
                if messenger and rng.random() < 0.5:  # Messenger: a reply to our answer joins it
                    conv.followups.append(conv.human[-1] + timedelta(seconds=rng.randint(10, 3600)))
            chain.append(conv)
            made += 1
            last = conv.last_activity()
            if not messenger and conv.human and rng.random() < 0.5:
                at = last + timedelta(seconds=rng.randint(60, 6 * 3600))  # a new question after an answer
            else:
                at = last + timedelta(hours=24, seconds=rng.randint(1, 3 * 86_400))
        if chain:
            keys.append(chain)
    return keys


def store(db: Engine, keys: list[list[GenConversation]], now: datetime) -> None:
    """Write the history as processed messages and sent outbox rows (raw bulk inserts)."""
    threads, authors, messages, outbox = [], [], [], []
    message_id = outbox_id = 0
    for key_id, chain in enumerate(keys, start=1):
        first = chain[0]
        platform, channel = first.platform, first.channel
        threads.append(
            {
                "id": key_id,
                "platform": platform,
                "external_id": f"t{key_id}",
                "channel": channel,
                "created_at": first.start,
                "last_message_at": first.start,
                "heat": 0.0,
                "acknowledged": False,
                "moved_private": False,
            }
        )
        authors.append(
            {
                "id": key_id,
                "platform": platform,
                "external_id": f"c{key_id}",
                "is_bot": False,
                "first_seen_at": first.start,
                "last_seen_at": first.start,
            }
        )
        for conv in chain:
            target = 0
            for written in [conv.start, *conv.followups]:
                message_id += 1
                target = target or message_id
                messages.append(_message(message_id, key_id, platform, channel, written, now))
            for at, human in [(a, True) for a in conv.human] + [(a, False) for a in conv.automated]:
                outbox_id += 1
                outbox.append(_send(outbox_id, target, key_id, platform, at, human))
    with db.begin() as conn:
        execute_many(
            conn,
            t.accounts.insert(),
            [{"id": i, "platform": p, "external_id": e, "username": u} for i, p, e, u in ACCOUNTS],
        )
        execute_many(conn, t.threads.insert(), threads)
        execute_many(conn, t.authors.insert(), authors)
        execute_many(conn, t.messages.insert(), messages)
        execute_many(conn, t.outbox.insert(), outbox)


def _message(mid: int, key: int, platform: str, channel: str, at: datetime, now: datetime) -> dict[str, Any]:
    return {
        "id": mid,
        "platform": platform,
        "external_id": f"m{mid}",
        "channel": channel,
        "thread_id": key,
        "author_id": key,
        "text": "where is my order?",
        "created_at": at,
        "received_at": at,
        "is_private": channel == "direct",
        "source": SOURCES[platform],
        "status": "processed",
    }


def _send(oid: int, message_id: int, key: int, platform: str, at: datetime, human: bool) -> dict[str, Any]:
    return {
        "id": oid,
        "idempotency_key": f"k{oid}",
        "message_id": message_id,
        "thread_id": key,
        "author_id": key,
        "platform": platform,
        "kind": "public_reply" if human else "direct_message",
        "thread_external_id": f"t{key}",
        "target_external_id": f"m{message_id}",
        "recipient_external_id": f"c{key}",
        "text": "thanks",
        "rule_id": "human" if human else "acknowledge-complaints",
        "policy_version": "human:alice" if human else "v1",
        "status": "sent",
        "attempts": 1,
        "next_attempt_at": at,
        "created_at": at,
        "sent_at": at,
    }
