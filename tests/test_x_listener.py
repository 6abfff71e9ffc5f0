"""X listeners driven by real tweepy over real HTTP against XSimulator."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import tweepy

from listeners.x import XMentionsListener, XSearchListener, search_key_hash
from listeners.x_client import make_x_client
from simulator.x import XSimulator
from tactful.clock import FrozenClock
from tactful.domain import Channel, Platform
from tactful.errors import AuthenticationFailed, RateLimited, TransientPlatformError
from tests.x_helpers import (  # noqa: F401  (fixtures)
    BRAND_ID,
    client_for,
    clock_fixture,
    load_fixture,
    parse_time,
    play_script,
    x_client_fixture,
    x_sim_fixture,
)


def _mentions_requests(sim: XSimulator) -> int:
    return sum(1 for entry in sim.request_log() if entry.path.endswith("/mentions"))


def test_mentions_are_normalised_like_the_fixture(x_sim: XSimulator, x_client: tweepy.Client) -> None:
    script = load_fixture("mentions_script")
    ids = play_script(x_sim, script)
    listener = XMentionsListener(x_client, BRAND_ID)
    result = listener.fetch(None)
    assert listener.key == f"x:mentions:{BRAND_ID}"
    assert result.quarantined == []
    assert [m.external_id for m in result.messages] == [ids[e["key"]] for e in script["expected_mentions"]]
    for message, expected in zip(result.messages, script["expected_mentions"], strict=True):
        assert message.platform is Platform.X
        assert message.channel is Channel.MENTION
        assert message.author.external_id == expected["author_id"]
        assert message.author.username == expected["username"]
        assert message.author.display_name == expected["display_name"]
        assert message.thread_external_id == ids[expected["thread"]]
        assert message.in_reply_to_external_id == (
            ids[expected["in_reply_to"]] if expected["in_reply_to"] else None
        )
        assert message.language_hint == expected["language_hint"]
        assert message.created_at == parse_time(expected["created_at"])
        assert message.created_at.tzinfo is UTC
        assert message.raw["id"] == message.external_id
        assert message.is_private is False
    assert result.cursor == ids["merci"]


def test_search_listener_normalises_matches(x_sim: XSimulator, x_client: tweepy.Client) -> None:
    script = load_fixture("search_script")
    ids = play_script(x_sim, script)
    listener = XSearchListener(x_client, "acme -is:retweet -from:spammer")
    result = listener.fetch(None)
    assert listener.key == f"x:search:{search_key_hash('acme -is:retweet -from:spammer')}"
    assert len(search_key_hash("anything")) == 12
    by_id = {m.external_id: m for m in result.messages}
    assert set(by_id) == {ids[k] for k in ("refund", "status", "late", "french")}
    french = by_id[ids["french"]]
    assert french.channel is Channel.SEARCH
    assert french.language_hint == "fr"
    assert french.author.username == "eli"
    assert french.thread_external_id == ids["french"]
    # The query travelled to the API unchanged.
    sent = [entry.query for entry in x_sim.request_log() if entry.path == "/2/tweets/search/recent"]
    assert sent[0]["query"] == "acme -is:retweet -from:spammer"


def test_since_id_cursoring_returns_only_new_tweets(x_sim: XSimulator, x_client: tweepy.Client) -> None:
    x_sim.add_user("2001", "alice", "Alice")
    first = x_sim.post("2001", "@acme one")
    listener = XMentionsListener(x_client, BRAND_ID)
    initial = listener.fetch(None)
    assert [m.external_id for m in initial.messages] == [first]
    assert initial.cursor == first
    idle = listener.fetch(initial.cursor)
    assert idle.messages == [] and idle.cursor == first
    second = x_sim.post("2001", "@acme two")
    third = x_sim.post("2001", "@acme three")
    later = listener.fetch(idle.cursor)
    assert [m.external_id for m in later.messages] == [second, third]
    assert later.cursor == third
    last_query = [entry.query for entry in x_sim.request_log() if entry.path.endswith("/mentions")][-1]
    assert last_query["since_id"] == first


def test_first_run_takes_one_page_then_a_burst_is_fetched_completely(
    x_sim: XSimulator, x_client: tweepy.Client
) -> None:
    x_sim.add_user("2001", "alice", "Alice")
    history = [x_sim.post("2001", f"@acme old {n}") for n in range(150)]
    listener = XMentionsListener(x_client, BRAND_ID)
    first = listener.fetch(None)
    assert len(first.messages) == 100
    assert first.cursor == history[-1]
    assert _mentions_requests(x_sim) == 1
    burst = [x_sim.post("2001", f"@acme burst {n}") for n in range(250)]
    result = listener.fetch(first.cursor)
    assert [m.external_id for m in result.messages] == burst
    assert result.cursor == burst[-1]
    assert _mentions_requests(x_sim) == 1 + 3


def test_malformed_tweets_are_quarantined_and_the_rest_continue(
    x_sim: XSimulator, x_client: tweepy.Client
) -> None:
    x_sim.add_user("2001", "alice", "Alice")
    good_before = x_sim.post("2001", "@acme fine")
    x_sim.post_raw({"id": "1", "text": "@acme who wrote me?", "created_at": "2026-01-05T08:00:00.000Z"})
    x_sim.post_raw({"text": "@acme no id", "author_id": "2001", "created_at": "2026-01-05T08:00:00.000Z"})
    x_sim.post_raw({"id": "7", "author_id": "2001", "created_at": "2026-01-05T08:00:00.000Z"})
    x_sim.post_raw({"id": "8", "text": "@acme", "author_id": "2001", "created_at": "yesterday"})
    good_after = x_sim.post("2001", "@acme also fine")
    result = XMentionsListener(x_client, BRAND_ID).fetch(None)
    assert [m.external_id for m in result.messages] == [good_before, good_after]
    reasons = sorted(q.reason for q in result.quarantined)
    assert reasons == sorted(
        [
            "tweet 1: missing 'author_id'",
            "missing or non-numeric 'id'",
            "tweet 7: missing 'text'",
            "tweet 8: missing or invalid 'created_at' 'yesterday'",
        ]
    )
    assert all(q.source == f"x:mentions:{BRAND_ID}" for q in result.quarantined)
    assert {json.loads(q.payload).get("id") for q in result.quarantined} == {"1", None, "7", "8"}
    assert result.cursor == good_after


def test_partial_errors_in_a_200_are_not_fatal(x_sim: XSimulator, x_client: tweepy.Client) -> None:
    x_sim.add_user("2001", "alice", "Alice")
    parent = x_sim.post("2001", "first")
    child = x_sim.post("2001", "@acme about that", in_reply_to=parent)
    x_sim.delete_tweet(parent)
    result = XMentionsListener(x_client, BRAND_ID).fetch(None)
    assert [m.external_id for m in result.messages] == [child]
    assert result.messages[0].in_reply_to_external_id == parent


def test_rate_limit_headers_are_parsed(
    x_sim: XSimulator, x_client: tweepy.Client, clock: FrozenClock
) -> None:
    x_sim.set_rate_limit("/2/users/:id/mentions", 450, 900, method="GET")
    listener = XMentionsListener(x_client, BRAND_ID)
    listener.fetch(None)
    result = listener.fetch(None)
    assert result.rate_limit is not None
    assert result.rate_limit.limit == 450
    assert result.rate_limit.remaining == 448
    assert result.rate_limit.reset_at == clock.now() + timedelta(seconds=900)


def test_429_raises_rate_limited_with_the_reset_time(
    x_sim: XSimulator, x_client: tweepy.Client, clock: FrozenClock
) -> None:
    x_sim.fail_next("GET", "/2/users/", 429, retry_after=120)
    with pytest.raises(RateLimited) as caught:
        XMentionsListener(x_client, BRAND_ID).fetch(None)
    assert caught.value.retry_at == clock.now() + timedelta(seconds=120)
    assert caught.value.retry_at.tzinfo is UTC


def test_exhausted_quota_raises_rate_limited_until_the_window_ends(
    x_sim: XSimulator, x_client: tweepy.Client, clock: FrozenClock
) -> None:
    x_sim.set_rate_limit("/2/tweets/search/recent", 1, 900, method="GET")
    listener = XSearchListener(x_client, "acme")
    listener.fetch(None)
    with pytest.raises(RateLimited) as caught:
        listener.fetch(None)
    assert caught.value.retry_at == datetime(2026, 1, 5, 9, 15, tzinfo=UTC)


def test_a_failure_on_a_later_page_fails_the_whole_fetch(x_sim: XSimulator, x_client: tweepy.Client) -> None:
    x_sim.add_user("2001", "alice", "Alice")
    start = x_sim.post("2001", "@acme start")
    for n in range(150):
        x_sim.post("2001", f"@acme {n}")
    listener = XMentionsListener(x_client, BRAND_ID)
    x_sim.set_rate_limit("/2/users/:id/mentions", 1, 900, method="GET")
    with pytest.raises(RateLimited):
        listener.fetch(start)


def test_503_is_transient(x_sim: XSimulator, x_client: tweepy.Client) -> None:
    x_sim.fail_next("GET", "/2/users/", 503)
    with pytest.raises(TransientPlatformError, match="503"):
        XMentionsListener(x_client, BRAND_ID).fetch(None)


def test_timeout_is_transient(x_sim: XSimulator) -> None:
    x_sim.set_latency(2.0)
    client = client_for(x_sim, timeout=0.2)
    with pytest.raises(TransientPlatformError, match="Timeout"):
        XSearchListener(client, "acme").fetch(None)


def test_connection_refused_is_transient(x_sim: XSimulator) -> None:
    client = client_for(x_sim)
    x_sim.stop()
    with pytest.raises(TransientPlatformError, match="ConnectionError"):
        XMentionsListener(client, BRAND_ID).fetch(None)


def test_401_is_authentication_failed(x_sim: XSimulator, x_client: tweepy.Client) -> None:
    x_sim.fail_next("GET", "/2/users/", 401)
    with pytest.raises(AuthenticationFailed):
        XMentionsListener(x_client, BRAND_ID).fetch(None)
    no_token = make_x_client(x_sim.base_url, None, None, None, None, None)
    with pytest.raises(AuthenticationFailed):
        XSearchListener(no_token, "acme").fetch(None)
