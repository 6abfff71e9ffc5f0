"""Decisions are values: what the policy says to do about one message, and which rule said it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from moderation.verdict import Verdict
from tactful.domain import IncomingMessage


@dataclass(frozen=True, slots=True)
class Acknowledge:
    """Reply publicly (or in the same private chat) with a rendered template.

    `promised_at` is the reply time the text promises ({reply_by}), stored and tracked as a promise.
    """

    text: str
    template_id: str
    variant: int
    promised_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class MoveToPrivate:
    """Take the conversation to a private channel; `fallback_text` is the public invitation."""

    private_text: str
    fallback_text: str
    template_id: str
    variant: int
    promised_at: datetime | None = None  # as for Acknowledge, when either text promises a reply time


@dataclass(frozen=True, slots=True)
class Hide:
    """Hide the message where the platform allows it."""

    reason: str


@dataclass(frozen=True, slots=True)
class QueueForReview:
    """Put the message in front of a person, with a priority (higher is more urgent) and a due time (SLA)."""

    priority: int
    reason: str
    due_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Ignore:
    """Deliberately do nothing (don't feed trolls, our own posts, spam)."""

    reason: str


Action = Acknowledge | MoveToPrivate | Hide | QueueForReview | Ignore


@dataclass(frozen=True, slots=True)
class DecisionContext:
    """Everything the engine may look at for one message; built by the pipeline from the store."""

    message: IncomingMessage
    verdict: Verdict
    now: datetime
    thread_heat: float = 0.0
    thread_acknowledged: bool = False
    thread_moved_private: bool = False
    author_acks_today: int = 0
    last_variant_to_author: tuple[str, int] | None = None
    from_own_account: bool = False
    private_channel_link: str | None = None
    brand_name: str = ""
    #: Hashes (`tactful.text_identity.text_hash`) of texts that already went out on the platform as
    #: often as the identical-text check allows: a variant with such a text is avoided.
    worn_texts: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Decision:
    """The policy's answer for one message: actions, the rule that chose them, the policy version."""

    rule_id: str
    policy_version: str
    actions: tuple[Action, ...]
    explanation: str
