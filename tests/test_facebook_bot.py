"""FacebookBot driven by real facebook-sdk over real HTTP against FacebookSimulator."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from bots.base import OutboundAction, SendKind, SendResult
from bots.facebook import FacebookBot, comparable_text
from listeners.facebook_client import GraphClient
from simulator.facebook import FacebookSimulator
from tactful.clock import FrozenClock
from tactful.domain import Platform
from tactful.errors import (
    AuthenticationFailed,
    PermanentPlatformError,
    RateLimited,
    RecipientUnreachable,
    TransientPlatformError,
)
from tests.facebook_helpers import (  # noqa: F401  (fixtures)
    ALICE,
    BOB,
    CARO,
    PAGE_ID,
    clock_fixture,
    fb_sim_fixture,
    graph_fixture,
    graph_for,
)


@pytest.fixture
def bot(graph: GraphClient, clock: FrozenClock) -> FacebookBot:
    return FacebookBot(graph, PAGE_ID, clock)


def _action(
    kind: SendKind,
    target: str,
    recipient: str,
    text: str | None,
    *,
    thread: str | None = None,
    source_created_at: datetime | None = None,
) -> OutboundAction:
    return OutboundAction(
        idempotency_key=f"facebook:{target}:{kind}",
        kind=kind,
        platform=Platform.FACEBOOK,
        thread_external_id=thread or target,
        target_external_id=target,
        recipient_external_id=recipient,
        text=text,
        source_created_at=source_created_at,
    )


# --- sending ----------------------------------------------------------------------------


def test_public_reply_goes_under_the_comment(fb_sim: FacebookSimulator, bot: FacebookBot) -> None:
    post = fb_sim.add_post("Winter sale")
    comment = fb_sim.comment(post, ALICE, "Where is my order?")
    result = bot.send(
        _action(SendKind.PUBLIC_REPLY, comment, ALICE, "Sorry Alice, checking now.", thread=post)
    )
    [reply] = fb_sim.page_comment_replies()
    assert result == SendResult(reply.comment_id, SendKind.PUBLIC_REPLY)
    assert (reply.target_id, reply.parent_comment_id, reply.post_id) == (comment, comment, post)
    assert reply.text == "Sorry Alice, checking now."
    [request] = [e for e in fb_sim.request_log() if e.method == "POST"]
    assert request.token_source == "header"


def test_public_reply_to_a_reply_joins_the_thread(fb_sim: FacebookSimulator, bot: FacebookBot) -> None:
    post = fb_sim.add_post("Winter sale")
    top = fb_sim.comment(post, ALICE, "Where is my order?")
    reply = fb_sim.comment(post, BOB, "Mine too", parent_comment_id=top)
    bot.send(_action(SendKind.PUBLIC_REPLY, reply, BOB, "Bob, we're on it."))
    [sent] = fb_sim.page_comment_replies()
    assert (sent.target_id, sent.parent_comment_id) == (reply, top)


def test_private_reply_once_per_comment(fb_sim: FacebookSimulator, bot: FacebookBot) -> None:
    post = fb_sim.add_post("Winter sale")
    comment = fb_sim.comment(post, ALICE, "Charged twice, card ending 4242")
    action = _action(SendKind.PRIVATE_REPLY, comment, ALICE, "Let's fix this privately.")
    result = bot.send(action)
    [reply] = fb_sim.private_replies()
    assert result == SendResult(reply.message_id, SendKind.PRIVATE_REPLY)
    assert (reply.comment_id, reply.recipient_id, reply.text) == (comment, ALICE, "Let's fix this privately.")
    with pytest.raises(RecipientUnreachable, match="10900"):
        bot.send(action)
    assert len(fb_sim.private_replies()) == 1


def test_private_reply_to_an_old_comment_is_refused(
    fb_sim: FacebookSimulator, bot: FacebookBot, clock: FrozenClock
) -> None:
    post = fb_sim.add_post("Winter sale")
    comment = fb_sim.comment(post, ALICE, "hello?")
    clock.advance(timedelta(days=8))
    with pytest.raises(RecipientUnreachable, match="10903"):
        bot.send(_action(SendKind.PRIVATE_REPLY, comment, ALICE, "Sorry for the wait"))
    assert fb_sim.private_replies() == []


def test_direct_message_inside_the_window(
    fb_sim: FacebookSimulator, bot: FacebookBot, clock: FrozenClock
) -> None:
    mid = fb_sim.message_page(CARO, "Can I return my boots?")
    written = clock.now()
    clock.advance(timedelta(hours=23))
    action = _action(
        SendKind.DIRECT_MESSAGE,
        mid,
        CARO,
        "Yes, within 30 days.",
        thread=f"psid:{CARO}",
        source_created_at=written,
    )
    result = bot.send(action)
    [sent] = fb_sim.messenger_sends()
    assert result == SendResult(sent.message_id, SendKind.DIRECT_MESSAGE)
    assert (sent.recipient_id, sent.text, sent.messaging_type) == (CARO, "Yes, within 30 days.", "RESPONSE")


def test_direct_message_outside_the_window_is_never_sent(
    fb_sim: FacebookSimulator, bot: FacebookBot, clock: FrozenClock
) -> None:
    mid = fb_sim.message_page(CARO, "Can I return my boots?")
    written = clock.now()
    clock.advance(timedelta(hours=24, seconds=1))
    action = _action(SendKind.DIRECT_MESSAGE, mid, CARO, "Yes!", source_created_at=written)
    requests_before = len(fb_sim.request_log())
    with pytest.raises(RecipientUnreachable, match="24-hour window; a person must answer"):
        bot.send(action)
    assert len(fb_sim.request_log()) == requests_before  # the API was not even called
    assert fb_sim.messenger_sends() == []


def test_direct_message_without_a_source_time_relies_on_the_platform(
    fb_sim: FacebookSimulator, bot: FacebookBot, clock: FrozenClock
) -> None:
    mid = fb_sim.message_page(CARO, "hello")
    clock.advance(timedelta(days=2))
    with pytest.raises(RecipientUnreachable, match="2018278"):
        bot.send(_action(SendKind.DIRECT_MESSAGE, mid, CARO, "Hi!"))
    assert fb_sim.messenger_sends() == []


def test_direct_message_to_a_person_who_blocked_the_page(fb_sim: FacebookSimulator, bot: FacebookBot) -> None:
    mid = fb_sim.message_page(CARO, "hello")
    fb_sim.set_messaging_blocked(CARO)
    with pytest.raises(RecipientUnreachable, match="551"):
        bot.send(_action(SendKind.DIRECT_MESSAGE, mid, CARO, "Hi!"))


def test_hide_comment(fb_sim: FacebookSimulator, bot: FacebookBot) -> None:
    post = fb_sim.add_post("Winter sale")
    rude = fb_sim.comment(post, BOB, "garbage company")
    result = bot.send(_action(SendKind.HIDE, rude, BOB, None))
    assert result == SendResult(rude, SendKind.HIDE)
    assert fb_sim.hidden_comment_ids() == {rude}


def test_actions_that_cannot_be_performed(fb_sim: FacebookSimulator, bot: FacebookBot) -> None:
    post = fb_sim.add_post("Winter sale")
    comment = fb_sim.comment(post, ALICE, "hi")
    with pytest.raises(PermanentPlatformError, match="no text"):
        bot.send(_action(SendKind.PUBLIC_REPLY, comment, ALICE, None))
    x_action = OutboundAction("k", SendKind.PUBLIC_REPLY, Platform.X, "1", "1", "2", "hi")
    with pytest.raises(PermanentPlatformError, match="cannot perform"):
        bot.send(x_action)
    with pytest.raises(PermanentPlatformError, match="does not exist"):
        bot.send(_action(SendKind.PUBLIC_REPLY, "999_999", ALICE, "hello"))
    with pytest.raises(PermanentPlatformError, match="does not exist"):
        bot.send(_action(SendKind.HIDE, "999_999", ALICE, None))


# --- failures ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "subcode", "error"),
    [
        (400, 4, None, RateLimited),
        (400, 17, None, RateLimited),
        (400, 32, None, RateLimited),
        (400, 613, None, RateLimited),
        (400, 80006, None, RateLimited),
        (500, 2, None, TransientPlatformError),
        (503, 1, None, TransientPlatformError),
        (502, 100, None, TransientPlatformError),
        (400, 190, 463, AuthenticationFailed),
        (400, 10, 2018108, RecipientUnreachable),
        (400, 368, None, PermanentPlatformError),
        (400, 100, None, PermanentPlatformError),
        (400, 200, None, PermanentPlatformError),
    ],
)
def test_send_failures_are_mapped(
    fb_sim: FacebookSimulator,
    bot: FacebookBot,
    status: int,
    code: int,
    subcode: int | None,
    error: type[Exception],
) -> None:
    post = fb_sim.add_post("Winter sale")
    comment = fb_sim.comment(post, ALICE, "hi")
    fb_sim.fail_next("POST", "/:id/comments", status, code=code, subcode=subcode)
    with pytest.raises(error):
        bot.send(_action(SendKind.PUBLIC_REPLY, comment, ALICE, "hello"))
    assert fb_sim.page_comment_replies() == []


def test_throttled_messenger_send_carries_the_regain_time(
    fb_sim: FacebookSimulator, bot: FacebookBot, clock: FrozenClock
) -> None:
    mid = fb_sim.message_page(CARO, "hello")
    fb_sim.set_rate_limit("messenger_buc", 0, 1800, method="POST", path="/:id/messages")
    with pytest.raises(RateLimited) as caught:
        bot.send(_action(SendKind.DIRECT_MESSAGE, mid, CARO, "Hi!", source_created_at=clock.now()))
    assert caught.value.retry_at == clock.now() + timedelta(minutes=30)
    assert fb_sim.messenger_sends() == []


def test_wrong_token_is_authentication_failed(fb_sim: FacebookSimulator, clock: FrozenClock) -> None:
    post = fb_sim.add_post("Winter sale")
    comment = fb_sim.comment(post, ALICE, "hi")
    bot = FacebookBot(graph_for(fb_sim, token="expired-token", clock=clock), PAGE_ID, clock)
    with pytest.raises(AuthenticationFailed, match="190") as caught:
        bot.send(_action(SendKind.HIDE, comment, ALICE, None))
    assert "expired-token" not in str(caught.value)
    assert fb_sim.hidden_comment_ids() == set()


def test_timeout_is_transient(fb_sim: FacebookSimulator, clock: FrozenClock) -> None:
    post = fb_sim.add_post("Winter sale")
    comment = fb_sim.comment(post, ALICE, "hi")
    fb_sim.set_latency(2.0)
    bot = FacebookBot(graph_for(fb_sim, timeout=0.2, clock=clock), PAGE_ID, clock)
    with pytest.raises(TransientPlatformError, match="Timeout"):
        bot.send(_action(SendKind.PUBLIC_REPLY, comment, ALICE, "hello"))


def test_connection_refused_is_transient(fb_sim: FacebookSimulator, clock: FrozenClock) -> None:
    bot = FacebookBot(graph_for(fb_sim, clock=clock), PAGE_ID, clock)
    fb_sim.stop()
    with pytest.raises(TransientPlatformError, match="ConnectionError"):
        bot.send(_action(SendKind.PUBLIC_REPLY, "1_2", ALICE, "hello"))


# --- reconciliation after a crash -------------------------------------------------------


def test_find_sent_finds_a_delivered_comment_reply_and_nothing_otherwise(
    fb_sim: FacebookSimulator, bot: FacebookBot
) -> None:
    post = fb_sim.add_post("Winter sale")
    comment = fb_sim.comment(post, ALICE, "Where is my order?")
    other = fb_sim.comment(post, BOB, "And mine?")
    action = _action(SendKind.PUBLIC_REPLY, comment, ALICE, "Checking now!")
    assert bot.find_sent(action) is None
    bot.send(_action(SendKind.PUBLIC_REPLY, other, BOB, "Checking now!"))  # same text, other comment
    bot.send(_action(SendKind.PUBLIC_REPLY, comment, ALICE, "A different answer"))
    fb_sim.comment(post, CARO, "Checking now!", parent_comment_id=comment)  # same text, not the page
    assert bot.find_sent(action) is None
    sent = bot.send(action)
    assert bot.find_sent(action) == SendResult(
        sent.platform_ref, SendKind.PUBLIC_REPLY, "found under the comment"
    )


def test_find_sent_for_a_reply_to_a_reply_looks_in_the_thread(
    fb_sim: FacebookSimulator, bot: FacebookBot
) -> None:
    post = fb_sim.add_post("Winter sale")
    top = fb_sim.comment(post, ALICE, "Where is my order?")
    reply = fb_sim.comment(post, BOB, "Mine too", parent_comment_id=top)
    action = _action(SendKind.PUBLIC_REPLY, reply, BOB, "Bob,   we're on it.")
    sent = bot.send(action)
    found = bot.find_sent(action)
    assert found is not None and found.platform_ref == sent.platform_ref


def test_find_sent_finds_messenger_replies_after_the_source_message(
    fb_sim: FacebookSimulator, bot: FacebookBot, clock: FrozenClock
) -> None:
    mid = fb_sim.message_page(CARO, "Can I return my boots?")
    action = _action(
        SendKind.DIRECT_MESSAGE, mid, CARO, "Yes, within 30 days.", source_created_at=clock.now()
    )
    assert bot.find_sent(action) is None  # no conversation message from the page yet
    fb_sim.message_page(CARO, "Yes, within 30 days.")  # the same words, but from Caro
    assert bot.find_sent(action) is None
    sent = bot.send(action)
    assert bot.find_sent(action) == SendResult(
        sent.platform_ref, SendKind.DIRECT_MESSAGE, "found in the Messenger conversation"
    )
    clock.advance(3600)
    later = fb_sim.message_page(CARO, "Another question")
    newer = _action(
        SendKind.DIRECT_MESSAGE, later, CARO, "Yes, within 30 days.", source_created_at=clock.now()
    )
    assert bot.find_sent(newer) is None  # the earlier answer predates this message


def test_find_sent_without_a_conversation(fb_sim: FacebookSimulator, bot: FacebookBot) -> None:
    assert bot.find_sent(_action(SendKind.DIRECT_MESSAGE, "m_x", BOB, "hello")) is None


def test_find_sent_finds_a_private_reply(
    fb_sim: FacebookSimulator, bot: FacebookBot, clock: FrozenClock
) -> None:
    post = fb_sim.add_post("Winter sale")
    comment = fb_sim.comment(post, ALICE, "Charged twice")
    action = _action(
        SendKind.PRIVATE_REPLY, comment, ALICE, "Let's fix this privately.", source_created_at=clock.now()
    )
    assert bot.find_sent(action) is None
    sent = bot.send(action)
    found = bot.find_sent(action)
    assert found == SendResult(
        sent.platform_ref, SendKind.PRIVATE_REPLY, "found in the Messenger conversation"
    )


def test_find_sent_for_hide_checks_the_comment(fb_sim: FacebookSimulator, bot: FacebookBot) -> None:
    post = fb_sim.add_post("Winter sale")
    rude = fb_sim.comment(post, BOB, "garbage company")
    action = _action(SendKind.HIDE, rude, BOB, None)
    assert bot.find_sent(action) is None
    bot.send(action)
    assert bot.find_sent(action) == SendResult(rude, SendKind.HIDE, "already hidden")


def test_find_sent_looks_past_the_first_page(fb_sim: FacebookSimulator, bot: FacebookBot) -> None:
    post = fb_sim.add_post("Winter sale")
    comment = fb_sim.comment(post, ALICE, "Where is my order?")
    action = _action(SendKind.PUBLIC_REPLY, comment, ALICE, "Early reply")
    sent = bot.send(action)
    for n in range(150):
        fb_sim.comment(post, BOB, f"me too {n}", parent_comment_id=comment)
    found = bot.find_sent(action)
    assert found is not None and found.platform_ref == sent.platform_ref
    assert (
        sum(1 for e in fb_sim.request_log() if e.path.endswith(f"{comment}/comments") and e.method == "GET")
        == 2
    )


def test_find_sent_failures_are_mapped(fb_sim: FacebookSimulator, bot: FacebookBot) -> None:
    post = fb_sim.add_post("Winter sale")
    comment = fb_sim.comment(post, ALICE, "hi")
    fb_sim.fail_next("GET", "/:id/comments", 503)
    with pytest.raises(TransientPlatformError):
        bot.find_sent(_action(SendKind.PUBLIC_REPLY, comment, ALICE, "hello"))


def test_comparable_text() -> None:
    assert comparable_text("  Thanks\n a   lot ") == "Thanks a lot"
    assert comparable_text("Thanks a lot") != comparable_text("Thanks")
