"""The tables tactful keeps: what arrived, what was concluded and decided, what was sent."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime


def _utc(nullable: bool = False, index: bool = False) -> Any:
    return Field(default=None, sa_type=UTCDateTime, nullable=nullable, index=index)


class Account(SQLModel, table=True):
    """A brand account or channel tactful watches and speaks for."""

    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("platform", "external_id", name="uq_accounts_platform_external"),)

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=16)
    external_id: str = Field(max_length=64)
    username: str | None = Field(default=None, max_length=128)


class Author(SQLModel, table=True):
    """A person (or bot) who wrote to or about the brand."""

    __tablename__ = "authors"
    __table_args__ = (UniqueConstraint("platform", "external_id", name="uq_authors_platform_external"),)

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=16)
    external_id: str = Field(max_length=64)
    username: str | None = Field(default=None, max_length=128)
    display_name: str | None = Field(default=None, max_length=256)
    is_bot: bool = False
    first_seen_at: datetime = _utc()
    last_seen_at: datetime = _utc()
    # History the moderator weighs (moderation/history.py), counted as batches are processed.
    messages_processed: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    troll_verdicts: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    first_message_at: datetime | None = _utc(nullable=True)
    last_troll_at: datetime | None = _utc(nullable=True)


class Thread(SQLModel, table=True):
    """A conversation: an X conversation, a Facebook post or Messenger thread, a Telegram chat."""

    __tablename__ = "threads"
    __table_args__ = (UniqueConstraint("platform", "external_id", name="uq_threads_platform_external"),)

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=16)
    external_id: str = Field(max_length=128)
    channel: str = Field(max_length=16)
    created_at: datetime = _utc()
    last_message_at: datetime = _utc()
    heat: float = 0.0
    heat_state: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    acknowledged: bool = False
    moved_private: bool = False
    linked_thread_id: int | None = Field(default=None, foreign_key="threads.id")


class Message(SQLModel, table=True):
    """One stored message, exactly once per platform and external id."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("platform", "external_id", name="uq_messages_platform_external"),
        Index("ix_messages_status_id", "status", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=16)
    external_id: str = Field(max_length=160)
    channel: str = Field(max_length=16)
    thread_id: int = Field(foreign_key="threads.id", index=True)
    author_id: int = Field(foreign_key="authors.id", index=True)
    text: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = _utc()
    received_at: datetime = _utc()
    in_reply_to_external_id: str | None = Field(default=None, max_length=160)
    language_hint: str | None = Field(default=None, max_length=16)
    is_private: bool = False
    private_link_token: str | None = Field(default=None, max_length=64)
    source: str = Field(default="", max_length=128)
    status: str = Field(default="new", max_length=16)
    claimed_at: datetime | None = _utc(nullable=True)
    raw: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))


class Verdict(SQLModel, table=True):
    """What moderation concluded about a message, with its explanation."""

    __tablename__ = "verdicts"

    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(foreign_key="messages.id", unique=True)
    category: str = Field(max_length=16, index=True)
    sentiment: str = Field(max_length=16)
    sentiment_score: float
    toxicity: float
    complaint: float
    language: str = Field(max_length=16)
    confidence: float
    explanation: str = Field(sa_column=Column(Text, nullable=False))
    keywords: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    signals: dict[str, float] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    model: str = Field(max_length=64)
    created_at: datetime = _utc()


class Decision(SQLModel, table=True):
    """What the policy decided for a message, and which rule and version decided it."""

    __tablename__ = "decisions"

    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(foreign_key="messages.id", unique=True)
    rule_id: str = Field(max_length=128)
    policy_version: str = Field(max_length=64)
    actions: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    explanation: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = _utc()


class OutboxItem(SQLModel, table=True):
    """A pending side effect: committed before it is sent, marked with the platform's id after."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_status_due", "status", "next_attempt_at"),
        Index("ix_outbox_author_created", "author_id", "created_at"),
        Index("ix_outbox_platform_ref", "platform", "platform_ref"),
        # The identical-text check (storage/send_budget.py): one range read per send.
        Index("ix_outbox_platform_text_sent", "platform", "text_hash", "sent_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    idempotency_key: str = Field(max_length=160, unique=True)
    message_id: int = Field(foreign_key="messages.id", index=True)
    thread_id: int = Field(foreign_key="threads.id")
    author_id: int = Field(foreign_key="authors.id")
    platform: str = Field(max_length=16)
    kind: str = Field(max_length=24)
    thread_external_id: str = Field(max_length=128)
    target_external_id: str = Field(max_length=160)
    recipient_external_id: str = Field(max_length=64)
    text: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    fallback_text: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    private_link: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    source_created_at: datetime | None = _utc(nullable=True)
    template_id: str | None = Field(default=None, max_length=128)
    variant: int | None = None
    rule_id: str = Field(max_length=128)
    policy_version: str = Field(max_length=64)
    status: str = Field(default="pending", max_length=16)
    attempts: int = 0
    next_attempt_at: datetime = _utc()
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    platform_ref: str | None = Field(default=None, max_length=128)
    kind_used: str | None = Field(default=None, max_length=24)
    created_at: datetime = _utc()
    sent_at: datetime | None = _utc(nullable=True)
    # sha256 of the normalised text, written by the dispatcher when it marks the item sending.
    text_hash: str | None = Field(default=None, max_length=64)


class ListenerCursor(SQLModel, table=True):
    """How far a listener has read; written in the same transaction as the messages it covers."""

    __tablename__ = "listener_cursors"

    key: str = Field(primary_key=True, max_length=160)
    cursor: str | None = Field(default=None, max_length=256)
    updated_at: datetime = _utc()


class ReviewItem(SQLModel, table=True):
    """A thread a person must look at, with its priority; one open item per thread."""

    __tablename__ = "review_items"
    __table_args__ = (
        Index("ix_review_items_status_priority", "status", "priority"),
        # The processing stage looks up the waiting item of each thread of a batch: without this
        # index SQLite walks every open item by status, a cost that grows with the backlog.
        Index("ix_review_items_thread_status", "thread_id", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    thread_id: int = Field(foreign_key="threads.id", index=True)
    message_id: int = Field(foreign_key="messages.id")
    platform: str = Field(max_length=16)
    priority: int = 0
    reason: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(default="open", max_length=16)
    assignee: str | None = Field(default=None, max_length=128)
    message_count: int = 1
    created_at: datetime = _utc()
    updated_at: datetime = _utc()
    due_at: datetime | None = _utc(nullable=True)
    resolved_at: datetime | None = _utc(nullable=True)
    resolved_by: str | None = Field(default=None, max_length=128)
    resolution_note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class HumanLabel(SQLModel, table=True):
    """A person's label for a message on one training task; a later label replaces it (history in audit_log)."""

    __tablename__ = "human_labels"
    __table_args__ = (
        UniqueConstraint("message_id", "task", name="uq_human_labels_message_task"),
        Index("ix_human_labels_task_message", "task", "message_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(foreign_key="messages.id")
    task: str = Field(max_length=16)
    label: str = Field(max_length=16)
    actor: str = Field(max_length=128)
    created_at: datetime = _utc()


class ResponseConversation(SQLModel, table=True):
    """One customer conversation and the brand's first responses to it, for response-time metrics.

    Kept up to date by the processing stage (new customer messages, in batches) and the outbox
    (sends); `storage/response_metrics.py` owns the rules, docs/stats.md defines them. Delays are
    whole milliseconds from `started_at`; `started_ms` is `started_at` in epoch milliseconds.
    """

    __tablename__ = "response_conversations"
    __table_args__ = (
        Index("ix_response_conversations_key", "thread_id", "author_id", "started_at"),
        # Covers the report's one range read (no table look-ups): see tactful/stats.py.
        Index(
            "ix_response_conversations_window",
            "started_ms",
            "platform",
            "channel",
            "account_id",
            "human_ms",
            "automated_ms",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=16)
    channel: str = Field(max_length=16)
    account_id: int | None = Field(default=None, foreign_key="accounts.id")
    thread_id: int = Field(foreign_key="threads.id")
    author_id: int = Field(foreign_key="authors.id")
    message_id: int = Field(foreign_key="messages.id")  # the customer message that started it
    started_at: datetime = _utc()
    started_ms: int = Field(sa_type=BigInteger)
    last_customer_at: datetime = _utc()
    message_count: int = 1
    first_human_at: datetime | None = _utc(nullable=True)
    first_automated_at: datetime | None = _utc(nullable=True)
    last_response_at: datetime | None = _utc(nullable=True)
    human_ms: int | None = Field(default=None, sa_type=BigInteger, nullable=True)
    automated_ms: int | None = Field(default=None, sa_type=BigInteger, nullable=True)


class BadgeAlert(SQLModel, table=True):
    """A badge-at-risk (or lost) alert for the team chat: at most one per badge, level, chat and UTC day.

    ``pending`` → ``sending`` (committed before the call) → ``posted``; one a crash left in
    ``sending`` becomes ``unknown`` and is never posted again; ``failed`` after the last attempt.
    """

    __tablename__ = "badge_alerts"
    __table_args__ = (
        UniqueConstraint("chat_id", "badge", "level", "day", name="uq_badge_alerts_once_a_day"),
        Index("ix_badge_alerts_status", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    chat_id: str = Field(max_length=32)
    badge: str = Field(max_length=160)  # e.g. "messenger-very-responsive:facebook:<page id>"
    level: str = Field(max_length=16)  # "at_risk" or "lost"
    day: str = Field(max_length=10)  # the UTC date, YYYY-MM-DD
    text: str = Field(sa_column=Column(Text, nullable=False))  # HTML, names escaped
    status: str = Field(default="pending", max_length=16)
    attempts: int = 0
    message_ref: str | None = Field(default=None, max_length=64)
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = _utc()
    posted_at: datetime | None = _utc(nullable=True)


class AuditEntry(SQLModel, table=True):
    """Who did what, when: automation and people alike."""

    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _utc(index=True)
    actor: str = Field(max_length=128)
    action: str = Field(max_length=64)
    subject_type: str = Field(max_length=32)
    subject_id: str = Field(max_length=64)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class QuarantinedItem(SQLModel, table=True):
    """A payload that could not be read, kept with the reason."""

    __tablename__ = "quarantine"

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=160)
    reason: str = Field(sa_column=Column(Text, nullable=False))
    payload: str = Field(sa_column=Column(Text, nullable=False))
    received_at: datetime = _utc()


class PolicyVersion(SQLModel, table=True):
    """Every policy version that ever ran, and every changed policy file that was rejected.

    `status` is ``active`` for a version that passed the check and was put in force
    (`activated_at`: the latest time it was), ``rejected`` for file contents that failed it
    (`errors`: the `tactful policy check` error lines); the version in force is the active row
    with the latest `activated_at`. `content_hash` is the full sha256 the version abbreviates;
    `author` is the file's owner when known.
    """

    __tablename__ = "policy_versions"

    id: int | None = Field(default=None, primary_key=True)
    version: str = Field(max_length=64, unique=True)
    path: str = Field(max_length=512)
    loaded_at: datetime = _utc()
    content_hash: str | None = Field(default=None, max_length=64)
    author: str | None = Field(default=None, max_length=128)
    status: str = Field(default="active", max_length=16, sa_column_kwargs={"server_default": "active"})
    errors: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    activated_at: datetime | None = _utc(nullable=True)


class PrivateLink(SQLModel, table=True):
    """A link we gave a customer to open a private channel, and the thread it continues.

    On Telegram a bot cannot open a private chat, so the group reply carries a
    ``t.me/<bot>?start=<token>`` button; when the customer presses Start, the private chat is
    linked to `thread_id` (and its queue item) through this token.
    """

    __tablename__ = "private_links"

    token: str = Field(primary_key=True, max_length=64)
    platform: str = Field(max_length=16)
    thread_id: int = Field(foreign_key="threads.id", index=True)
    message_id: int = Field(foreign_key="messages.id")
    created_at: datetime = _utc()
    used_at: datetime | None = _utc(nullable=True)
    private_thread_id: int | None = Field(default=None, foreign_key="threads.id")


class User(SQLModel, table=True):
    """A person who works the dashboard (and, linked by Telegram id, the team chat), with a role."""

    __tablename__ = "users"
    __table_args__ = (
        UniqueConstraint("name", name="uq_users_name"),
        UniqueConstraint("telegram_user_id", name="uq_users_telegram_user_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=48)
    role: str = Field(max_length=16)
    password_hash: str = Field(max_length=255)  # argon2id, encoded with its parameters
    telegram_user_id: int | None = Field(default=None, sa_type=BigInteger, nullable=True)
    disabled: bool = False
    created_at: datetime = _utc()


class WebSession(SQLModel, table=True):
    """A dashboard login; deleting the row (logout, disable, password change) ends it."""

    __tablename__ = "web_sessions"

    id: str = Field(primary_key=True, max_length=64)  # HMAC of the cookie's token; the token is never stored
    user_id: int = Field(foreign_key="users.id", index=True)
    created_at: datetime = _utc()
    expires_at: datetime = _utc(index=True)


class TeamChatPost(SQLModel, table=True):
    """A review item announced in the Telegram team chat: its own small outbox, at most one post per item.

    ``pending`` → ``sending`` (committed before the call) → ``posted`` with the message ref; a post a
    crash left in ``sending`` becomes ``unknown`` and is never sent again. `last_state` is the item
    state the message shows, so the message is edited when the item changes.
    """

    __tablename__ = "team_chat_posts"
    __table_args__ = (
        UniqueConstraint("item_id", "chat_id", name="uq_team_chat_posts_item_chat"),
        Index("ix_team_chat_posts_status_due", "status", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="review_items.id")
    chat_id: str = Field(max_length=32)
    rule: str = Field(max_length=16)  # why it was announced: "priority" or "due"
    status: str = Field(default="pending", max_length=16)
    attempts: int = 0
    next_attempt_at: datetime = _utc()
    message_ref: str | None = Field(default=None, max_length=64)
    last_state: str | None = Field(default=None, max_length=255)
    shown_status: str | None = Field(default=None, max_length=16)
    state_at: datetime | None = _utc(nullable=True)
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = _utc()
    posted_at: datetime | None = _utc(nullable=True)


class TeamChatPress(SQLModel, table=True):
    """A button press in the team chat, stored once per callback query id (replays change nothing).

    ``pending`` → ``handling`` (committed before the queue action) → ``done`` with the outcome and the
    answer to show; presses from other chats are ``ignored``; a crash mid-action leaves
    ``interrupted``. `answer_status` tracks answerCallbackQuery: ``pending``, ``answered``, ``failed``.
    """

    __tablename__ = "team_chat_presses"
    __table_args__ = (Index("ix_team_chat_presses_status", "status", "answer_status"),)

    callback_query_id: str = Field(primary_key=True, max_length=64)
    telegram_user_id: int = Field(sa_type=BigInteger)
    chat_id: str | None = Field(default=None, max_length=32)
    message_ref: str | None = Field(default=None, max_length=64)
    data: str | None = Field(default=None, max_length=64)
    received_at: datetime = _utc()
    status: str = Field(default="pending", max_length=16)
    outcome: str | None = Field(default=None, max_length=16)
    item_id: int | None = None
    actor: str | None = Field(default=None, max_length=128)
    answer: str | None = Field(default=None, max_length=255)
    answer_status: str | None = Field(default=None, max_length=16)
    handled_at: datetime | None = _utc(nullable=True)


class PolicyReplay(SQLModel, table=True):
    """A stored report of `tactful policy replay`: stored history re-decided under a candidate policy."""

    __tablename__ = "policy_replays"

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = _utc(index=True)
    policy_version: str = Field(max_length=64)
    source: str = Field(sa_column=Column(Text, nullable=False))  # the file(s), layered in order
    since: datetime | None = _utc(nullable=True)  # only messages from then on were re-decided
    summary: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    actor: str = Field(max_length=128)


class Promise(SQLModel, table=True):
    """A reply time an automated message promised ({reply_by}), tracked until kept or broken.

    One row per send that carries the promise (`outbox_key` is the outbox row's idempotency key).
    `thread_id` is the conversation whose review item answers it. ``pending`` until a person
    replies, moves the conversation private or resolves its item (``kept`` when by `promised_at`,
    else ``broken``), or the deadline passes with none of that (``broken``, `settled_by`
    ``deadline``). `settled_at` is when that happened.
    """

    __tablename__ = "promises"
    __table_args__ = (
        UniqueConstraint("outbox_key", name="uq_promises_outbox_key"),
        Index("ix_promises_status_promised_at", "status", "promised_at"),
        Index("ix_promises_thread_status", "thread_id", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    outbox_key: str = Field(max_length=160)
    message_id: int = Field(foreign_key="messages.id")
    thread_id: int = Field(foreign_key="threads.id")
    platform: str = Field(max_length=16)
    channel: str = Field(max_length=16)
    promised_at: datetime = _utc()
    made_at: datetime = _utc()
    status: str = Field(default="pending", max_length=16)
    settled_at: datetime | None = _utc(nullable=True)
    settled_by: str | None = Field(default=None, max_length=128)


class SlaAlert(SQLModel, table=True):
    """A reminder before, or an escalation after, a due or promised time, posted once to the team chat.

    `subject` is ``item`` (a review item's due time) or ``promise`` (a promise with no waiting item);
    `kind` is ``reminder`` or ``escalation``. Moved ``pending`` → ``sending`` → ``posted`` like
    team_chat_posts (a crash mid-send leaves ``unknown``, never sent again).
    """

    __tablename__ = "sla_alerts"
    __table_args__ = (
        UniqueConstraint("subject", "subject_id", "kind", "chat_id", name="uq_sla_alerts_subject_kind_chat"),
        Index("ix_sla_alerts_status_next", "status", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    subject: str = Field(max_length=16)
    subject_id: int
    kind: str = Field(max_length=16)
    chat_id: str = Field(max_length=32)
    deadline: datetime = _utc()
    status: str = Field(default="pending", max_length=16)
    attempts: int = 0
    next_attempt_at: datetime = _utc()
    message_ref: str | None = Field(default=None, max_length=64)
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = _utc()
    posted_at: datetime | None = _utc(nullable=True)


class Lease(SQLModel, table=True):
    """Who does a piece of work that only one process may do at a time, until when (storage/leases.py).

    `name` is ``listener:<key>`` (who polls a listener), ``partition:<n>`` (who processes the
    threads of partition n), ``worker:<holder>`` / ``sender:<holder>`` (heartbeats of processing
    workers and of outbox senders) or ``job:<name>`` (a singleton job); `holder` is
    ``<hostname>:<pid>:<token>``. A lease whose `expires_at` passed may be taken by anyone;
    `acquired_at` is when the current holder took it.
    """

    __tablename__ = "leases"

    name: str = Field(primary_key=True, max_length=128)
    holder: str = Field(max_length=128)
    expires_at: datetime = _utc()
    acquired_at: datetime = _utc()


class MetricsInbox(SQLModel, table=True):
    """Customer messages processed but not yet folded into `response_conversations`.

    The processing stage only notes the message here (one narrow row), so keeping response-time
    metrics costs the decision path almost nothing; `storage.response_metrics.fold_pending`
    folds them in later, in id order, from any process (serialised by the database).
    """

    __tablename__ = "metrics_inbox"

    message_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})


class SendBudget(SQLModel, table=True):
    """A send cap shared by every process: its row is locked while a sender takes a slot.

    One row per cap (``global``: every automated send but hides). `updated_at` is when a slot was
    last asked for; the row exists to be locked (storage/send_budget.py).
    """

    __tablename__ = "send_budget"

    name: str = Field(primary_key=True, max_length=32)
    updated_at: datetime = _utc()


class SendSlot(SQLModel, table=True):
    """One send counted against a cap at `reserved_at`; counted for the cap's window, then deleted."""

    __tablename__ = "send_slots"
    __table_args__ = (Index("ix_send_slots_budget_reserved", "budget", "reserved_at"),)

    id: int | None = Field(default=None, primary_key=True)
    budget: str = Field(max_length=32)
    reserved_at: datetime = _utc()
    outbox_id: int | None = None
