"""Seeded generator of varied customer traffic, for benchmarks and load tests."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from tactful.domain import Author, Channel, IncomingMessage, Platform

PRODUCTS = ["headphones", "blender", "vacuum", "kettle", "speaker", "phone case", "router", "X200", "K3"]
COMPLAINTS = [
    "my {p} arrived damaged and the box was crushed",
    "I was charged twice for the {p}, still waiting for a refund",
    "the {p} stopped working after two days, really disappointed",
    "order #{n} never arrived and tracking hasn't moved in a week",
    "the damn {p} keeps disconnecting, this is so frustrating",
    "support hasn't answered my emails about the broken {p} for 10 days",
]
QUESTIONS = [
    "does the {p} work with 110V?",
    "is there a student discount on the {p}?",
    "how long does a return usually take?",
    "where can I find the manual for the {p}?",
    "can I exchange the {p} for another colour?",
]
PRAISE = [
    "just got the new {p} and I love it, best purchase this year!",
    "shoutout to your support team, sorted my {p} in minutes",
    "the {p} is amazing, thank you!",
]
TROLLS = [
    "you people are clowns and everyone who buys your junk is an idiot",
    "nobody cares about your stupid {p}, losers",
    "go cry about it, worst brand ever lol",
]
SPAM = [
    "FREE crypto giveaway!!! DM me to claim 5 BTC now bit.ly/fr33-{n}",
    "Make $5000/week from home!!! Click here bit.ly/easy-{n} #giveaway",
]
OTHER = [
    "saw an ad for the {p} today",
    "anyone else watching the game tonight?",
    "{p} unboxing video coming soon",
]
OPENERS = ["", "hey ", "hi ", "so ", "ugh, ", "quick one: ", "honestly ", "ok ", "hello, ", "um "]
CLOSERS = [
    "",
    " thanks",
    " pls help",
    " any update?",
    " {d} days now",
    " (order placed {d} days ago)",
    " :(",
    " !!",
    " cheers",
]
MIX = [(COMPLAINTS, 35), (QUESTIONS, 25), (PRAISE, 15), (TROLLS, 8), (SPAM, 5), (OTHER, 12)]


def generate_messages(
    count: int,
    seed: int = 7,
    brand: str = "acme",
    authors: int = 2000,
    start: datetime | None = None,
    platform: Platform = Platform.X,
) -> Iterator[IncomingMessage]:
    """Yield `count` varied mentions of the brand, some of them replies in existing threads."""
    rng = random.Random(seed)
    pools = [pool for pool, _ in MIX]
    weights = [w for _, w in MIX]
    start = start or datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    threads: list[str] = []
    for i in range(count):
        pool = rng.choices(pools, weights)[0]
        body = rng.choice(pool).format(p=rng.choice(PRODUCTS), n=rng.randint(10000, 99999))
        closer = rng.choice(CLOSERS).format(d=rng.randint(2, 30))
        text = f"{rng.choice(OPENERS)}{body}{closer}"
        author = rng.randrange(authors)
        external_id = str(10**15 + i)
        if threads and rng.random() < 0.2:
            thread = rng.choice(threads[-200:])
        else:
            thread = external_id
            threads.append(thread)
        yield IncomingMessage(
            platform=platform,
            channel=Channel.MENTION,
            external_id=external_id,
            thread_external_id=thread,
            author=Author(platform=platform, external_id=str(5000 + author), username=f"user{author}"),
            text=f"@{brand} {text}",
            created_at=start + timedelta(seconds=i),
        )
