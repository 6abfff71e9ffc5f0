"""Facebook polling listeners and GraphClient driven by real facebook-sdk over real HTTP against FacebookSimulator."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import pytest

from listeners.base import RateLimitStatus
from listeners.facebook import (
    FacebookCommentsListener,
    FacebookConversationsListener,
    TimeCursor,
    parse_webhook,
)
from listeners.facebook_client import DEFAULT_RATE_LIMIT_BACKOFF, GraphClient
from simulator.facebook import FacebookSimulator, RateLimitScope
from simulator.http import LoopbackServer, SimRequest, SimResponse
from tactful.clock import FrozenClock
from tactful.domain import Channel, IncomingMessage, Platform
from tactful.errors import AuthenticationFailed, PermanentPlatformError, RateLimited, TransientPlatformError
from tests.facebook_helpers import (  # noqa: F401  (fixtures)
    ALICE,
    API_VERSION,
    BOB,
    CARO,
    PAGE_ID,
    PAGE_TOKEN,
    WebhookReceiver,
    clock_fixture,
    fb_sim_fixture,
    graph_fixture,
    graph_for,
    receiver_fixture,
)


def _requests_to(sim: FacebookSimulator, suffix: str) -> int:
    return sum(1 for entry in sim.request_log() if entry.path.endswith(suffix))


# --- GraphClient ------------------------------------------------------------------------


def test_graph_client_uses_the_configured_url_version_and_a_header_token(
    fb_sim: FacebookSimulator, graph: GraphClient
) -> None:
    assert graph.version == API_VERSION
    assert graph.get_object(PAGE_ID) == {"id": PAGE_ID, "name": "Acme Support"}
    [entry] = fb_sim.request_log()
    assert entry.path == f"/v21.0/{PAGE_ID}"
    assert entry.token_source == "header"  # never in the URL
    assert PAGE_TOKEN not in repr(graph)
    other = graph_for(fb_sim, api_version="v19.0")
    other.get_object(PAGE_ID)
    assert fb_sim.request_log()[-1].path == f"/v19.0/{PAGE_ID}"


@pytest.mark.parametrize("version", ["21.0", "v21", "latest", "v2.x"])
def test_graph_client_rejects_malformed_versions(version: str) -> None:
    with pytest.raises(ValueError, match="api_version"):
        GraphClient(PAGE_TOKEN, graph_url="http://127.0.0.1:1", api_version=version)


def test_graph_client_needs_a_token_and_an_http_url() -> None:
    with pytest.raises(ValueError, match="token"):
        GraphClient("", graph_url="http://127.0.0.1:1")
    with pytest.raises(ValueError, match="graph_url"):
        GraphClient(PAGE_TOKEN, graph_url="ftp://example.com")


def test_the_default_graph_url_is_not_rewritten() -> None:
    client = GraphClient(PAGE_TOKEN)
    assert client.graph_url == "https://graph.facebook.com"
    session = client.session
    assert session.rewrite("https://graph.facebook.com/v21.0/me") == "https://graph.facebook.com/v21.0/me"
    assert session.rewrite("https://example.com/v21.0/me") == "https://example.com/v21.0/me"


def test_wrong_token_is_authentication_failed_without_leaking_it(fb_sim: FacebookSimulator) -> None:
    graph = graph_for(fb_sim, token="stolen-and-wrong-token")
    with pytest.raises(AuthenticationFailed, match="code 190") as caught:
        FacebookCommentsListener(graph, PAGE_ID).fetch(None)
    assert "stolen-and-wrong-token" not in str(caught.value)
    assert "stolen-and-wrong-token" not in repr(caught.value.__cause__)


# --- comments ---------------------------------------------------------------------------


def test_first_run_reads_one_page_of_recent_comments(
    fb_sim: FacebookSimulator, graph: GraphClient, clock: FrozenClock
) -> None:
    post = fb_sim.add_post("Winter sale")
    top = fb_sim.comment(post, ALICE, "Where is my order?")
    clock.advance(30)
    reply = fb_sim.comment(post, BOB, "Same here", parent_comment_id=top)
    listener = FacebookCommentsListener(graph, PAGE_ID)
    result = listener.fetch(None)
    assert listener.key == f"facebook:comments:{PAGE_ID}"
    assert listener.platform is Platform.FACEBOOK
    assert result.quarantined == []
    assert [m.external_id for m in result.messages] == [top, reply]
    first, second = result.messages
    assert first.channel is Channel.COMMENT
    assert (first.thread_external_id, first.in_reply_to_external_id) == (top, None)
    assert (second.thread_external_id, second.in_reply_to_external_id) == (top, top)
    assert (first.author.external_id, first.author.display_name) == (ALICE, "Alice Martin")
    assert first.created_at == datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    assert first.raw["id"] == top
    assert result.cursor == f"{int(second.created_at.timestamp())}|{reply}"
    assert result.rate_limit is not None and result.rate_limit.limit == 100
    assert listener.fetch(result.cursor).messages == []


def test_first_run_with_nothing_starts_from_now(
    fb_sim: FacebookSimulator, graph: GraphClient, clock: FrozenClock
) -> None:
    result = FacebookCommentsListener(graph, PAGE_ID).fetch(None)
    assert result.messages == []
    assert result.cursor == str(int(clock.now().timestamp()))
    conversations = FacebookConversationsListener(graph, PAGE_ID).fetch(None)
    assert conversations.cursor == str(int(clock.now().timestamp()))


def test_catch_up_after_downtime_reads_every_page_of_every_active_post(
    fb_sim: FacebookSimulator, graph: GraphClient, clock: FrozenClock
) -> None:
    quiet = fb_sim.add_post("Old news")
    fb_sim.comment(quiet, ALICE, "old remark")
    clock.advance(30)
    busy = fb_sim.add_post("Big launch")
    other = fb_sim.add_post("Opening hours")
    fb_sim.comment(busy, BOB, "first!")
    listener = FacebookCommentsListener(graph, PAGE_ID, page_size=10)
    start = listener.fetch(None)
    assert len(start.messages) == 2
    first_run_requests = len(fb_sim.request_log())
    clock.advance(3600)
    burst = []
    for n in range(25):
        burst.append(fb_sim.comment(busy, ALICE if n % 2 else BOB, f"comment {n}"))
        if n % 5 == 0:
            burst.append(fb_sim.comment(other, CARO, f"other {n}"))
        clock.advance(1 if n % 3 else 0)  # several comments share a second
    result = listener.fetch(start.cursor)
    assert sorted(m.external_id for m in result.messages) == sorted(burst)
    assert [m.created_at for m in result.messages] == sorted(m.created_at for m in result.messages)
    catch_up = [e for e in fb_sim.request_log()[first_run_requests:] if e.path.endswith("/comments")]
    assert {e.path for e in catch_up} == {
        f"/v21.0/{busy}/comments",
        f"/v21.0/{other}/comments",
    }  # quiet skipped
    assert _requests_to(fb_sim, f"{busy}/comments") == 1 + 3  # first run, then three pages of ten
    position = TimeCursor.parse(start.cursor)
    assert position is not None
    assert {e.query.get("since") for e in catch_up} == {str(position.since)}
    assert {e.query.get("filter") for e in catch_up} == {"stream"}
    again = listener.fetch(result.cursor)
    assert again.messages == [] and again.cursor == result.cursor
    late = fb_sim.comment(busy, CARO, "one more, same second")
    final = listener.fetch(result.cursor)
    assert [m.external_id for m in final.messages] == [late]


def test_page_comments_are_included(fb_sim: FacebookSimulator, graph: GraphClient) -> None:
    post = fb_sim.add_post("hi")
    top = fb_sim.comment(post, ALICE, "question")
    listener = FacebookCommentsListener(graph, PAGE_ID)
    cursor = listener.fetch(None).cursor
    answer = graph.put_comment(top, "Answer from the page")["id"]
    [message] = listener.fetch(cursor).messages
    assert (message.external_id, message.author.external_id) == (answer, PAGE_ID)
    assert message.in_reply_to_external_id == top


def test_malformed_comments_are_quarantined_and_the_rest_continue(
    fb_sim: FacebookSimulator, graph: GraphClient, clock: FrozenClock
) -> None:
    post = fb_sim.add_post("sale")
    good = fb_sim.comment(post, ALICE, "fine")
    fb_sim.add_raw_comment(post, {"id": "1_1", "message": "who?", "created_time": "2026-01-05T09:00:00+0000"})
    fb_sim.add_raw_comment(post, {"message": "no id", "from": {"id": ALICE}})
    fb_sim.add_raw_comment(
        post, {"id": "1_2", "from": {"id": ALICE}, "message": "x", "created_time": "later"}
    )
    fb_sim.add_raw_comment(post, {"id": "1_3", "from": {"id": ALICE}, "message": "", "created_time": 1})
    also_good = fb_sim.comment(post, BOB, "also fine")
    result = FacebookCommentsListener(graph, PAGE_ID).fetch(None)
    assert [m.external_id for m in result.messages] == [good, also_good]
    assert sorted(q.reason for q in result.quarantined) == [
        "comment 1_1: missing or invalid 'from'",
        "comment 1_2: missing or invalid 'created_time' 'later'",
        "comment: missing or invalid 'id'",
    ]
    assert all(q.source == f"facebook:comments:{PAGE_ID}" for q in result.quarantined)
    assert {json.loads(q.payload).get("id") for q in result.quarantined} == {"1_1", "1_2", None}


def test_unreadable_cursor_restarts_from_recent_history(
    fb_sim: FacebookSimulator, graph: GraphClient, caplog: pytest.LogCaptureFixture
) -> None:
    post = fb_sim.add_post("sale")
    comment = fb_sim.comment(post, ALICE, "hello")
    with caplog.at_level(logging.WARNING):
        result = FacebookCommentsListener(graph, PAGE_ID).fetch("not-a-cursor")
    assert [m.external_id for m in result.messages] == [comment]
    assert "unreadable cursor" in caplog.text


def test_page_size_is_bounded(graph: GraphClient) -> None:
    with pytest.raises(ValueError, match="page_size"):
        FacebookCommentsListener(graph, PAGE_ID, page_size=0)
    with pytest.raises(ValueError, match="page_size"):
        FacebookConversationsListener(graph, PAGE_ID, page_size=101)


# --- conversations ----------------------------------------------------------------------


def test_conversations_first_run_and_catch_up(
    fb_sim: FacebookSimulator, graph: GraphClient, clock: FrozenClock
) -> None:
    hello = fb_sim.message_page(ALICE, "hello")
    clock.advance(60)
    listener = FacebookConversationsListener(graph, PAGE_ID, page_size=5)
    assert listener.key == f"facebook:conversations:{PAGE_ID}"
    first = listener.fetch(None)
    [message] = first.messages
    assert message.external_id == hello
    assert message.channel is Channel.DIRECT and message.is_private
    assert message.thread_external_id == f"psid:{ALICE}"
    assert (message.author.external_id, message.author.display_name) == (ALICE, "Alice Martin")
    assert first.cursor == f"{int(message.created_at.timestamp())}|{hello}"
    # The page answers (not returned), then people write while tactful is down.
    graph.request(
        graph.path(PAGE_ID, "messages"),
        post_args={
            "recipient": json.dumps({"id": ALICE}),
            "message": json.dumps({"text": "Hi Alice"}),
            "messaging_type": "RESPONSE",
        },
    )
    clock.advance(3600)
    written = []
    for n in range(12):
        written.append(fb_sim.message_page(BOB, f"bob {n}"))
        if n % 4 == 0:
            written.append(fb_sim.message_page(CARO, f"caro {n}"))
        clock.advance(1 if n % 2 else 0)
    result = listener.fetch(first.cursor)
    assert sorted(m.external_id for m in result.messages) == sorted(written)
    assert {m.thread_external_id for m in result.messages} == {f"psid:{BOB}", f"psid:{CARO}"}
    alice_messages = f"{fb_sim.conversation_id_for(ALICE)}/messages"
    assert _requests_to(fb_sim, alice_messages) == 2  # the page's answer bumped Alice's conversation
    assert listener.fetch(result.cursor).messages == []
    assert _requests_to(fb_sim, alice_messages) == 2  # older conversations are no longer opened
    again = fb_sim.message_page(ALICE, "thanks!")
    assert [m.external_id for m in listener.fetch(result.cursor).messages] == [again]


def test_malformed_messages_are_quarantined(fb_sim: FacebookSimulator, graph: GraphClient) -> None:
    good = fb_sim.message_page(ALICE, "fine")
    fb_sim.add_raw_message(
        ALICE, {"id": "m_raw1", "message": "no sender", "created_time": "2026-01-05T09:00:00+0000"}
    )
    fb_sim.add_raw_message(
        ALICE, {"id": "m_raw2", "from": {"id": ALICE}, "created_time": "2026-01-05T09:00:00+0000"}
    )
    fb_sim.add_raw_message(
        ALICE, {"id": "m_raw3", "from": {"id": ALICE}, "message": "x", "created_time": "?"}
    )
    fb_sim.add_raw_message(ALICE, {"id": "m_raw4", "from": {"id": ALICE}, "message": ""})
    fb_sim.add_raw_message(ALICE, ["not", "an", "object"])  # type: ignore[arg-type]
    result = FacebookConversationsListener(graph, PAGE_ID).fetch(None)
    assert [m.external_id for m in result.messages] == [good]
    assert sorted(q.reason for q in result.quarantined) == [
        "message is a list, not a JSON object",
        "message m_raw1: missing or invalid 'from'",
        "message m_raw2: missing 'message'",
        "message m_raw3: missing or invalid time '?'",
    ]


# --- webhooks and polling agree ---------------------------------------------------------


def test_webhook_and_polling_produce_the_same_ids(
    fb_sim: FacebookSimulator, graph: GraphClient, receiver: WebhookReceiver, clock: FrozenClock
) -> None:
    fb_sim.auto_webhook_url = receiver.url
    post = fb_sim.add_post("Launch")
    top = fb_sim.comment(post, ALICE, "Love it")
    reply = fb_sim.comment(post, BOB, "Me too", parent_comment_id=top)
    nested = fb_sim.comment(post, CARO, "Same", parent_comment_id=reply)
    mid = fb_sim.message_page(CARO, "Can I return it?")
    pushed = []
    for body in receiver.accepted:
        messages, quarantined = parse_webhook(body, PAGE_ID)
        assert quarantined == []
        pushed.extend(messages)
    polled = (
        FacebookCommentsListener(graph, PAGE_ID).fetch(None).messages
        + FacebookConversationsListener(graph, PAGE_ID).fetch(None).messages
    )

    def key(m: IncomingMessage) -> tuple[object, ...]:
        return (
            m.platform,
            m.channel,
            m.external_id,
            m.thread_external_id,
            m.in_reply_to_external_id,
            m.author.external_id,
            m.text,
            m.created_at,
            m.is_private,
        )

    assert sorted(map(key, pushed), key=repr) == sorted(map(key, polled), key=repr)
    assert {m.external_id for m in polled} == {top, reply, nested, mid}


# --- failures ---------------------------------------------------------------------------


@pytest.mark.parametrize("code", [4, 17, 32, 613, 80001])
def test_throttling_codes_raise_rate_limited(
    fb_sim: FacebookSimulator, graph: GraphClient, clock: FrozenClock, code: int
) -> None:
    fb_sim.fail_next("GET", "/:id/posts", 400, code=code, regain_minutes=12)
    with pytest.raises(RateLimited, match=f"code {code}") as caught:
        FacebookCommentsListener(graph, PAGE_ID).fetch(None)
    if code in (4, 17):  # X-App-Usage carries no time: the default backoff applies
        assert caught.value.retry_at == clock.now() + DEFAULT_RATE_LIMIT_BACKOFF
    else:
        assert caught.value.retry_at == clock.now() + timedelta(minutes=12)
    assert caught.value.retry_at.tzinfo is not None


def test_exhausted_quota_raises_rate_limited_until_access_returns(
    fb_sim: FacebookSimulator, graph: GraphClient, clock: FrozenClock
) -> None:
    fb_sim.set_rate_limit(RateLimitScope.PAGE, 3, 3600)
    listener = FacebookConversationsListener(graph, PAGE_ID)
    result = listener.fetch(None)
    assert result.rate_limit is not None
    assert (result.rate_limit.limit, result.rate_limit.remaining) == (100, 66)  # one call of three: 34% used
    listener.fetch(None)
    listener.fetch(None)
    with pytest.raises(RateLimited) as caught:
        listener.fetch(None)
    assert caught.value.retry_at == clock.now() + timedelta(minutes=60)


def test_a_failure_on_a_later_page_fails_the_whole_fetch(
    fb_sim: FacebookSimulator, graph: GraphClient, clock: FrozenClock
) -> None:
    post = fb_sim.add_post("sale")
    listener = FacebookCommentsListener(graph, PAGE_ID, page_size=5)
    cursor = listener.fetch(None).cursor
    clock.advance(10)
    for n in range(12):
        fb_sim.comment(post, ALICE, f"c{n}")
    fb_sim.set_rate_limit(RateLimitScope.PAGE, 1, 600, method="GET", path="/:id/comments")
    with pytest.raises(RateLimited):
        listener.fetch(cursor)
    assert [e.status for e in fb_sim.request_log() if e.path.endswith("/comments")][-2:] == [200, 400]


@pytest.mark.parametrize(("status", "code"), [(500, 2), (503, 1), (400, 2)])
def test_server_errors_and_retry_codes_are_transient(
    fb_sim: FacebookSimulator, graph: GraphClient, status: int, code: int
) -> None:
    fb_sim.fail_next("GET", "/:id/conversations", status, code=code)
    with pytest.raises(TransientPlatformError, match=f"HTTP {status}"):
        FacebookConversationsListener(graph, PAGE_ID).fetch(None)


def test_timeout_is_transient(fb_sim: FacebookSimulator, clock: FrozenClock) -> None:
    fb_sim.set_latency(2.0)
    graph = graph_for(fb_sim, timeout=0.2, clock=clock)
    with pytest.raises(TransientPlatformError, match="Timeout"):
        FacebookCommentsListener(graph, PAGE_ID).fetch(None)


def test_connection_refused_is_transient(fb_sim: FacebookSimulator, clock: FrozenClock) -> None:
    graph = graph_for(fb_sim, clock=clock)
    fb_sim.stop()
    with pytest.raises(TransientPlatformError, match="ConnectionError") as caught:
        FacebookConversationsListener(graph, PAGE_ID).fetch(None)
    assert PAGE_TOKEN not in str(caught.value)


def test_first_run_takes_only_the_newest_page_of_comments(
    fb_sim: FacebookSimulator, graph: GraphClient, clock: FrozenClock
) -> None:
    post = fb_sim.add_post("sale")
    written = []
    for n in range(15):
        written.append(fb_sim.comment(post, ALICE, f"c{n}"))
        clock.advance(1)
    result = FacebookCommentsListener(graph, PAGE_ID, page_size=10).fetch(None)
    assert [m.external_id for m in result.messages] == written[5:]
    assert _requests_to(fb_sim, f"{post}/comments") == 1


class _CannedGraph(LoopbackServer):
    """A server that answers every request with one canned HTTP response (for unreadable answers)."""

    def __init__(self, response: SimResponse) -> None:
        super().__init__()
        self.response = response

    def handle(self, request: SimRequest) -> SimResponse:
        return self.response


@pytest.mark.parametrize(
    ("response", "error", "match"),
    [
        (
            SimResponse(502, b"<html>Bad Gateway</html>", {"content-type": "text/html"}),
            TransientPlatformError,
            "502",
        ),
        (
            SimResponse(200, b"{not json", {"content-type": "application/json"}),
            TransientPlatformError,
            "unreadable",
        ),
        (SimResponse(200, b"hello"), TransientPlatformError, "unreadable"),
        (SimResponse(200, b"plain text", {"content-type": "text/plain"}), TransientPlatformError, "HTTP 200"),
        (
            SimResponse(200, b"[1, 2]", {"content-type": "application/json"}),
            TransientPlatformError,
            "not an object",
        ),
        (
            SimResponse(404, b"<html>Not Found</html>", {"content-type": "text/html"}),
            PermanentPlatformError,
            "404",
        ),
    ],
    ids=["html-502", "bad-json", "no-content-type", "text-200", "json-list", "html-404"],
)
def test_unreadable_answers_are_mapped(
    response: SimResponse, error: type[Exception], match: str, clock: FrozenClock
) -> None:
    with _CannedGraph(response) as server:
        graph = GraphClient(PAGE_TOKEN, graph_url=server.base_url, clock=clock)
        with pytest.raises(error, match=match):
            graph.get_object(PAGE_ID)


def test_usage_headers_of_every_kind_are_read(clock: FrozenClock) -> None:
    headers = {
        "content-type": "application/json",
        "x-app-usage": json.dumps({"call_count": 20, "total_cputime": 5, "total_time": 7}),
        "x-page-usage": json.dumps({"call_count": 75, "estimated_time_to_regain_access": 0}),
        "x-business-use-case-usage": "{broken",
    }
    with _CannedGraph(SimResponse(200, b'{"id": "1000"}', headers)) as server:
        graph = GraphClient(PAGE_TOKEN, graph_url=server.base_url, clock=clock)
        graph.get_object(PAGE_ID)
        assert graph.rate_limit_status() == RateLimitStatus(limit=100, remaining=25, reset_at=None)
    with _CannedGraph(SimResponse(200, b'{"id": "1000"}', {"content-type": "application/json"})) as server:
        graph = GraphClient(PAGE_TOKEN, graph_url=server.base_url, clock=clock)
        graph.get_object(PAGE_ID)
        assert graph.rate_limit_status() is None
