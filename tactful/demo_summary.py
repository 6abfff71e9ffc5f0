"""The figures `tactful demo` reports at the end: what was stored, sent, linked and queued, per platform."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TextIO

from sqlalchemy import Connection, and_, func, select

from simulator.facebook import FacebookSimulator
from simulator.script import Played
from simulator.telegram import TelegramSimulator
from simulator.x import XSimulator
from storage import tables as t
from storage.db import make_engine
from storage.queue import QueueEntry, list_queue
from tactful.processing import PRIVATE_CHAT_RULE_ID

PLATFORMS = ("x", "facebook", "telegram")
TOP_OF_QUEUE = 10


@dataclass(frozen=True, slots=True)
class XFigures:
    """What the X simulator received from the brand."""

    public_replies: int
    direct_messages: int

    @property
    def sent(self) -> int:
        """Every message the brand sent."""
        return self.public_replies + self.direct_messages


@dataclass(frozen=True, slots=True)
class FacebookFigures:
    """What the Facebook simulator received from the page, and the webhooks it delivered."""

    comment_replies: int
    private_replies: int
    messenger_messages: int
    hidden_comments: int
    webhooks_delivered: int

    @property
    def sent(self) -> int:
        """Every message the page sent (hiding is not a message)."""
        return self.comment_replies + self.private_replies + self.messenger_messages


@dataclass(frozen=True, slots=True)
class TelegramFigures:
    """What the Telegram simulator received from the bot, and the deep links customers followed."""

    group_messages: int
    deep_links: int
    private_messages: int
    deep_links_opened: int
    private_chats_joined: int

    @property
    def sent(self) -> int:
        """Every message the bot sent."""
        return self.group_messages + self.private_messages


@dataclass(frozen=True, slots=True)
class DemoResult:
    """Everything the demo summary shows, for the CLI and for tests."""

    posted: dict[str, int]
    stored: dict[str, int]
    own_stored: dict[str, int]
    x: XFigures
    facebook: FacebookFigures
    telegram: TelegramFigures
    private_links_used: int
    queue_open: dict[str, int]
    queue_top: list[QueueEntry] = field(default_factory=list)
    author_names: dict[tuple[str, str], str] = field(default_factory=dict)
    verdicts: dict[str, int] = field(default_factory=dict)
    actions: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DemoSources:
    """Where the figures come from: the simulators and what each player posted."""

    x: XSimulator
    facebook: FacebookSimulator
    telegram: TelegramSimulator
    played: dict[str, Played]


def _stored(conn: Connection) -> tuple[dict[str, int], dict[str, int]]:
    """Messages stored per platform: from customers, and from the brand's own accounts."""
    m, a, acc = t.messages, t.authors, t.accounts
    own = acc.c.id.is_not(None)
    rows = conn.execute(
        select(m.c.platform, own.label("own"), func.count())
        .select_from(m.join(a, a.c.id == m.c.author_id))
        .outerjoin(acc, and_(acc.c.platform == a.c.platform, acc.c.external_id == a.c.external_id))
        .group_by(m.c.platform, own)
    ).all()
    customers: dict[str, int] = dict.fromkeys(PLATFORMS, 0)
    brand: dict[str, int] = dict.fromkeys(PLATFORMS, 0)
    for platform, is_own, count in rows:
        (brand if is_own else customers)[platform] = int(count)
    return customers, brand


def _author_names(conn: Connection, entries: list[QueueEntry]) -> dict[tuple[str, str], str]:
    """Names for queue entries whose author has no username (Facebook): display name, else ``#<id>``."""
    m, a = t.messages, t.authors
    names: dict[tuple[str, str], str] = {}
    for entry in entries:
        if entry.author:
            continue
        row = conn.execute(
            select(a.c.display_name, a.c.external_id)
            .select_from(m.join(a, a.c.id == m.c.author_id))
            .where(and_(m.c.platform == entry.platform, m.c.external_id == entry.message_external_id))
        ).first()
        if row is not None:
            names[(entry.platform, entry.message_external_id)] = row.display_name or f"#{row.external_id}"
    return names


def _telegram(sim: TelegramSimulator, played: Played, joined: int) -> TelegramFigures:
    sent = sim.sent_messages()
    group = [m for m in sent if m.chat_id < 0]
    links = [m for m in group if "?start=" in str(m.reply_markup or "") + m.text]
    return TelegramFigures(len(group), len(links), len(sent) - len(group), played.deep_links_opened, joined)


def collect_result(
    url: str, sources: DemoSources, verdicts: Counter[str], actions: Counter[str]
) -> DemoResult:
    """Read the demo's database and simulators once everything has stopped."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            stored, own = _stored(conn)
            queue = list_queue(conn, limit=1_000_000)
            names = _author_names(conn, queue[:TOP_OF_QUEUE])
            links_used = conn.execute(
                select(func.count())
                .select_from(t.private_links)
                .where(t.private_links.c.used_at.is_not(None))
            ).scalar_one()
            joined = conn.execute(
                select(func.count())
                .select_from(t.decisions)
                .where(t.decisions.c.rule_id == PRIVATE_CHAT_RULE_ID)
            ).scalar_one()
    finally:
        engine.dispose()
    fb = sources.facebook
    return DemoResult(
        posted={name: played.posts for name, played in sources.played.items()},
        stored=stored,
        own_stored=own,
        x=XFigures(len(sources.x.brand_replies()), len(sources.x.brand_dms())),
        facebook=FacebookFigures(
            len(fb.page_comment_replies()),
            len(fb.private_replies()),
            len(fb.messenger_sends()),
            len(fb.hidden_comment_ids()),
            sum(1 for d in fb.webhook_deliveries() if d.status == 200),
        ),
        telegram=_telegram(sources.telegram, sources.played["telegram"], int(joined)),
        private_links_used=int(links_used),
        queue_open=dict(Counter(entry.platform for entry in queue)),
        queue_top=queue[:TOP_OF_QUEUE],
        author_names=names,
        verdicts=dict(verdicts),
        actions=dict(actions),
    )


def _plural(count: int, singular: str, plural: str | None = None) -> str:
    return f"{count} {singular if count == 1 else plural or singular + 's'}"


def _short(text: str, width: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def print_summary(result: DemoResult, out: TextIO) -> None:
    """Print the end-of-demo summary."""
    per_platform = ", ".join(f"{p} {result.stored.get(p, 0)}" for p in PLATFORMS)
    own = sum(result.own_stored.values())
    own_note = (
        f" (and {_plural(own, 'reply', 'replies')} of our own read back, never answered)" if own else ""
    )
    fb, tg, x = result.facebook, result.telegram, result.x
    print("\n=== summary ===", file=out)
    print(
        f"messages stored:     {sum(result.stored.values())} from customers: {per_platform}{own_note}",
        file=out,
    )
    print(f"verdicts:            {result.verdicts}", file=out)
    print(f"actions decided:     {result.actions}", file=out)
    print(
        f"x received:          {_plural(x.public_replies, 'public reply', 'public replies')}, "
        f"{_plural(x.direct_messages, 'direct message')}",
        file=out,
    )
    print(
        f"facebook received:   {_plural(fb.comment_replies, 'comment reply', 'comment replies')}, "
        f"{_plural(fb.private_replies, 'private reply', 'private replies')}, "
        f"{_plural(fb.messenger_messages, 'Messenger message')}, {_plural(fb.hidden_comments, 'hidden comment')} "
        f"({_plural(fb.webhooks_delivered, 'signed webhook')} delivered)",
        file=out,
    )
    print(
        f"telegram received:   {_plural(tg.group_messages, 'group message')} "
        f"({tg.deep_links} with a deep link), {_plural(tg.private_messages, 'private message')}; "
        f"{_plural(tg.deep_links_opened, 'deep link')} opened, "
        f"{_plural(tg.private_chats_joined, 'private chat')} joined to its group thread",
        file=out,
    )
    counts = ", ".join(f"{p} {result.queue_open.get(p, 0)}" for p in PLATFORMS)
    total = sum(result.queue_open.values())
    print(f"review queue:        {total} open items ({counts}); top of the queue:", file=out)
    for e in result.queue_top:
        who = (
            f"@{e.author}" if e.author else result.author_names.get((e.platform, e.message_external_id), "?")
        )
        print(
            f"  p{e.priority:<3} {e.platform:<8} {e.category or '-':<9} {who}: {_short(e.text, 70)}", file=out
        )
