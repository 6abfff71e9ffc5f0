"""XBot driven by real tweepy over real HTTP against XSimulator."""

from __future__ import annotations

from datetime import timedelta

import pytest
import tweepy

from bots.base import OutboundAction, SendKind, SendResult
from bots.x import XBot, comparable_text, x_dm_link
from simulator.x import XSimulator
from tactful.clock import FrozenClock
from tactful.domain import Platform
from tactful.errors import (
    AuthenticationFailed,
    PermanentPlatformError,
    RateLimited,
    RecipientUnreachable,
    TransientPlatformError,
)
from tests.x_helpers import (  # noqa: F401  (fixtures)
    BRAND_ID,
    clock_fixture,
    x_client_fixture,
    x_sim_fixture,
)

ALICE, BOB = "2001", "2002"


@pytest.fixture
def people(x_sim: XSimulator) -> XSimulator:
    x_sim.add_user(ALICE, "alice", "Alice")
    x_sim.add_user(BOB, "bob", "Bob", accepts_dms=False)
    return x_sim


def _action(
    kind: SendKind, target: str, recipient: str, text: str | None, fallback: str | None = None
) -> OutboundAction:
    return OutboundAction(
        idempotency_key=f"{kind}-{target}",
        kind=kind,
        platform=Platform.X,
        thread_external_id=target,
        target_external_id=target,
        recipient_external_id=recipient,
        text=text,
        fallback_text=fallback,
    )


def test_public_reply_lands_in_the_right_conversation(people: XSimulator, x_client: tweepy.Client) -> None:
    root = people.post(ALICE, "@acme my parcel is lost")
    follow_up = people.post(ALICE, "@acme hello??", in_reply_to=root)
    result = XBot(x_client, BRAND_ID).send(
        _action(SendKind.PUBLIC_REPLY, follow_up, ALICE, "Sorry Alice, on it.")
    )
    assert result.kind_used is SendKind.PUBLIC_REPLY
    [reply] = people.brand_replies()
    assert reply.tweet_id == result.platform_ref
    assert reply.in_reply_to_tweet_id == follow_up
    assert reply.conversation_id == root
    assert reply.text == "Sorry Alice, on it."
    [post] = [entry for entry in people.request_log() if entry.method == "POST"]
    assert post.auth_scheme == "OAuth"


def test_direct_message_is_delivered(people: XSimulator, x_client: tweepy.Client) -> None:
    tweet = people.post(ALICE, "@acme refund please")
    result = XBot(x_client, BRAND_ID).send(
        _action(SendKind.DIRECT_MESSAGE, tweet, ALICE, "Send us your order number")
    )
    assert result.kind_used is SendKind.DIRECT_MESSAGE
    [dm] = people.brand_dms()
    assert (dm.dm_event_id, dm.recipient_id, dm.text) == (
        result.platform_ref,
        ALICE,
        "Send us your order number",
    )
    assert dm.dm_conversation_id == f"{BRAND_ID}-{ALICE}"
    assert people.brand_replies() == []


def test_closed_dms_fall_back_to_a_public_reply(people: XSimulator, x_client: tweepy.Client) -> None:
    tweet = people.post(BOB, "@acme you charged me twice")
    fallback = f"We'd like to help privately: {x_dm_link(BRAND_ID)}"
    action = _action(SendKind.DIRECT_MESSAGE, tweet, BOB, "Which card was charged?", fallback)
    result = XBot(x_client, BRAND_ID).send(action)
    assert result.kind_used is SendKind.PUBLIC_REPLY
    assert people.brand_dms() == []
    [reply] = people.brand_replies()
    assert (reply.tweet_id, reply.in_reply_to_tweet_id, reply.text) == (result.platform_ref, tweet, fallback)


def test_closed_dms_without_fallback_are_unreachable(people: XSimulator, x_client: tweepy.Client) -> None:
    tweet = people.post(BOB, "@acme hi")
    with pytest.raises(RecipientUnreachable, match="not permitted"):
        XBot(x_client, BRAND_ID).send(_action(SendKind.DIRECT_MESSAGE, tweet, BOB, "hello"))
    assert people.brand_replies() == []


def test_hide_reply_in_a_brand_conversation(people: XSimulator, x_client: tweepy.Client) -> None:
    ours = people.post(BRAND_ID, "Big news today")
    rude = people.post(ALICE, "garbage company", in_reply_to=ours)
    bot = XBot(x_client, BRAND_ID)
    result = bot.send(_action(SendKind.HIDE, rude, ALICE, None))
    assert result == SendResult(rude, SendKind.HIDE)
    assert people.hidden_tweet_ids() == {rude}
    assert bot.find_sent(_action(SendKind.HIDE, rude, ALICE, None)) is None
    theirs = people.post(ALICE, "@acme standalone rant")
    with pytest.raises(PermanentPlatformError, match="403"):
        bot.send(_action(SendKind.HIDE, theirs, ALICE, None))


def test_private_reply_is_not_an_x_action(people: XSimulator, x_client: tweepy.Client) -> None:
    tweet = people.post(ALICE, "@acme hi")
    with pytest.raises(PermanentPlatformError):
        XBot(x_client, BRAND_ID).send(_action(SendKind.PRIVATE_REPLY, tweet, ALICE, "hi"))
    with pytest.raises(PermanentPlatformError, match="no text"):
        XBot(x_client, BRAND_ID).send(_action(SendKind.PUBLIC_REPLY, tweet, ALICE, None))


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (503, TransientPlatformError),
        (500, TransientPlatformError),
        (401, AuthenticationFailed),
        (400, PermanentPlatformError),
    ],
)
def test_send_failures_are_mapped(
    people: XSimulator, x_client: tweepy.Client, status: int, error: type[Exception]
) -> None:
    tweet = people.post(ALICE, "@acme hi")
    people.fail_next("POST", "/2/tweets", status)
    with pytest.raises(error):
        XBot(x_client, BRAND_ID).send(_action(SendKind.PUBLIC_REPLY, tweet, ALICE, "hello"))
    assert people.brand_replies() == []


def test_send_429_carries_the_reset_time(
    people: XSimulator, x_client: tweepy.Client, clock: FrozenClock
) -> None:
    tweet = people.post(ALICE, "@acme hi")
    people.fail_next("POST", "/2/dm_conversations/", 429, retry_after=300)
    with pytest.raises(RateLimited) as caught:
        XBot(x_client, BRAND_ID).send(_action(SendKind.DIRECT_MESSAGE, tweet, ALICE, "hello"))
    assert caught.value.retry_at == clock.now() + timedelta(seconds=300)
    assert people.brand_dms() == []


def test_find_sent_finds_a_delivered_reply_and_nothing_otherwise(
    people: XSimulator, x_client: tweepy.Client
) -> None:
    bot = XBot(x_client, BRAND_ID)
    tweet = people.post(ALICE, "@acme where is my order")
    other = people.post(ALICE, "@acme another question")
    action = _action(SendKind.PUBLIC_REPLY, tweet, ALICE, "Checking now!")
    assert bot.find_sent(action) is None
    bot.send(_action(SendKind.PUBLIC_REPLY, other, ALICE, "Checking now!"))
    bot.send(_action(SendKind.PUBLIC_REPLY, tweet, ALICE, "A different answer"))
    assert bot.find_sent(action) is None
    sent = bot.send(action)
    assert bot.find_sent(action) == SendResult(sent.platform_ref, SendKind.PUBLIC_REPLY, "found on timeline")


def test_find_sent_looks_past_the_first_timeline_page(people: XSimulator, x_client: tweepy.Client) -> None:
    bot = XBot(x_client, BRAND_ID)
    tweet = people.post(ALICE, "@acme early")
    sent = bot.send(_action(SendKind.PUBLIC_REPLY, tweet, ALICE, "Early reply"))
    for n in range(120):
        people.post(BRAND_ID, f"announcement {n}")
    found = bot.find_sent(_action(SendKind.PUBLIC_REPLY, tweet, ALICE, "Early reply"))
    assert found is not None and found.platform_ref == sent.platform_ref


def test_find_sent_finds_a_delivered_dm_or_its_fallback(people: XSimulator, x_client: tweepy.Client) -> None:
    bot = XBot(x_client, BRAND_ID)
    tweet = people.post(ALICE, "@acme refund")
    dm = _action(SendKind.DIRECT_MESSAGE, tweet, ALICE, "Please share your order number")
    assert bot.find_sent(dm) is None
    people.send_dm_to_brand(ALICE, "Please share your order number")  # same text, but not from the brand
    assert bot.find_sent(dm) is None
    sent = bot.send(dm)
    assert bot.find_sent(dm) == SendResult(
        sent.platform_ref, SendKind.DIRECT_MESSAGE, "found in DM conversation"
    )

    closed = people.post(BOB, "@acme help")
    fallback = _action(SendKind.DIRECT_MESSAGE, closed, BOB, "private text", f"DM us: {x_dm_link(BRAND_ID)}")
    assert bot.find_sent(fallback) is None
    delivered = bot.send(fallback)
    found = bot.find_sent(fallback)
    assert found is not None
    assert (found.platform_ref, found.kind_used) == (delivered.platform_ref, SendKind.PUBLIC_REPLY)


def test_find_sent_failures_are_mapped(people: XSimulator, x_client: tweepy.Client) -> None:
    tweet = people.post(ALICE, "@acme hi")
    people.fail_next("GET", f"/2/users/{BRAND_ID}/tweets", 503)
    with pytest.raises(TransientPlatformError):
        XBot(x_client, BRAND_ID).find_sent(_action(SendKind.PUBLIC_REPLY, tweet, ALICE, "hello"))


def test_dm_link_and_text_comparison() -> None:
    assert x_dm_link("1000") == "https://x.com/messages/compose?recipient_id=1000"
    assert comparable_text("@alice @bob  Thanks https://t.co/abc123") == comparable_text(
        "Thanks https://x.com/messages/compose?recipient_id=1000"
    )
    assert comparable_text("Thanks a lot") != comparable_text("Thanks")
