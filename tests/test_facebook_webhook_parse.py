"""Facebook webhook bodies (fixtures as Meta documents them) parsed, and signatures verified."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from listeners.facebook import TimeCursor, messenger_thread_id, parse_graph_time, parse_webhook
from listeners.facebook_webhook import verify_signature, verify_subscription
from simulator.facebook import FacebookSimulator, sign
from tactful.domain import Channel, Platform
from tests.facebook_helpers import APP_SECRET, PAGE_ID, load_fixture

POST = "1000_100000000000001"
TOP = "100000000000001_100000000000002"


def test_a_top_level_comment() -> None:
    messages, quarantined = parse_webhook(load_fixture("webhook_comment"), PAGE_ID)
    assert quarantined == []
    [message] = messages
    assert message.platform is Platform.FACEBOOK
    assert message.channel is Channel.COMMENT
    assert message.external_id == TOP
    assert message.thread_external_id == TOP  # each customer's comment is a conversation of its own
    assert message.in_reply_to_external_id is None  # the parent is the post itself
    assert (message.author.external_id, message.author.display_name) == ("2001", "Alice Martin")
    assert message.text == "Where is my order? It's been two weeks."
    assert message.created_at == datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    assert message.is_private is False
    assert message.raw["verb"] == "add"


def test_a_reply_points_at_its_parent_comment() -> None:
    [message], quarantined = parse_webhook(load_fixture("webhook_comment_reply"), PAGE_ID)
    assert quarantined == []
    assert message.in_reply_to_external_id == TOP
    assert message.thread_external_id == TOP
    assert message.author.external_id == "2002"


def test_the_pages_own_comment_is_returned_with_the_page_as_author() -> None:
    [message], quarantined = parse_webhook(load_fixture("webhook_page_comment"), PAGE_ID)
    assert quarantined == []
    assert message.author.external_id == PAGE_ID
    assert message.author.display_name == "Acme Support"
    assert message.in_reply_to_external_id == TOP


def test_edits_removals_reactions_posts_photos_and_other_fields_are_skipped_quietly() -> None:
    assert parse_webhook(load_fixture("webhook_feed_ignored"), PAGE_ID) == ([], [])


def test_messenger_text_messages_only() -> None:
    messages, quarantined = parse_webhook(load_fixture("webhook_messages"), PAGE_ID)
    assert quarantined == []
    assert [m.external_id for m in messages] == [
        "m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM_QPpz5jdCK48PnKAjSdjfipqxqMvK8ma6AC8fplwlqLP_5cgXIbu7I3rBN0P",
        "m_quick_reply_1",
    ]
    first, quick = messages
    assert first.channel is Channel.DIRECT
    assert first.is_private is True
    assert first.thread_external_id == messenger_thread_id("2003") == "psid:2003"
    assert first.author.external_id == "2003"
    assert first.author.display_name is None  # webhooks carry only the PSID
    assert first.created_at == datetime(2026, 1, 5, 9, 0, 10, tzinfo=UTC)
    assert first.in_reply_to_external_id is None
    assert quick.text == "Order status"
    assert quick.thread_external_id == "psid:2001"


MALFORMED: list[dict[str, Any]] = load_fixture("webhook_malformed")


@pytest.mark.parametrize("case", MALFORMED, ids=[case["name"] for case in MALFORMED])
def test_malformed_payloads_are_quarantined_with_a_reason(case: dict[str, Any]) -> None:
    messages, quarantined = parse_webhook(case["payload"], PAGE_ID)
    assert [m.external_id for m in messages] == case.get("valid_ids", [])
    assert [q.reason for q in quarantined] == case["reasons"]
    assert all(q.source == f"facebook:webhook:{PAGE_ID}" for q in quarantined)
    for item in quarantined:
        json.loads(item.payload)  # the offending piece is kept as JSON


def test_a_body_that_is_not_an_object_is_quarantined() -> None:
    messages, [quarantined] = parse_webhook([1, 2], PAGE_ID)  # type: ignore[arg-type]
    assert messages == []
    assert quarantined.reason == "webhook body is a list, not a JSON object"
    assert quarantined.payload == "[1, 2]"


def test_the_simulators_webhooks_have_the_fixture_shapes() -> None:
    sim = FacebookSimulator(PAGE_ID, "token", app_secret=APP_SECRET, page_name="Acme Support")
    sim.add_user("2001", "Alice Martin")
    post = sim.add_post("hello")
    comment = sim.comment(post, "2001", "hi there")
    mid = sim.message_page("2001", "psst")
    fixture_change = load_fixture("webhook_comment")["entry"][0]["changes"][0]
    built_change = sim.webhook_payload_for_comment(comment)["entry"][0]["changes"][0]
    assert built_change["field"] == fixture_change["field"]
    assert set(built_change["value"]) == set(fixture_change["value"])
    fixture_event = load_fixture("webhook_messages")["entry"][0]["messaging"][0]
    built = sim.webhook_payload_for_message(mid)
    assert set(built["entry"][0]) == {"id", "time", "messaging"}
    assert set(built["entry"][0]["messaging"][0]) == set(fixture_event)
    assert set(built["entry"][0]["messaging"][0]["message"]) == set(fixture_event["message"])
    with pytest.raises(ValueError, match="unknown comment"):
        sim.webhook_payload_for_comment("nope")
    with pytest.raises(ValueError, match="unknown message"):
        sim.webhook_payload_for_message("m_nope")


# --- signatures -------------------------------------------------------------------------

BODY = json.dumps(load_fixture("webhook_comment")).encode("utf-8")


def _hex(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_a_good_signature_verifies() -> None:
    assert sign(BODY, APP_SECRET) == f"sha256={_hex(APP_SECRET, BODY)}"
    assert verify_signature(APP_SECRET, BODY, f"sha256={_hex(APP_SECRET, BODY)}")
    assert verify_signature(APP_SECRET, BODY, f"  sha256={_hex(APP_SECRET, BODY).upper()} ")


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        f"sha256={_hex('another-secret', BODY)}",
        f"sha256={_hex(APP_SECRET, BODY + b' ')}",
        f"sha1={hmac.new(APP_SECRET.encode(), BODY, hashlib.sha1).hexdigest()}",
        _hex(APP_SECRET, BODY),
        f"SHA256:{_hex(APP_SECRET, BODY)}",
        "sha256=",
        "sha256=zz-not-hex-ü",
    ],
    ids=[
        "missing",
        "empty",
        "wrong-secret",
        "body-changed",
        "sha1-prefix",
        "no-prefix",
        "wrong-separator",
        "empty-digest",
        "garbage",
    ],
)
def test_bad_signatures_fail(header: str | None) -> None:
    assert verify_signature(APP_SECRET, BODY, header) is False


def test_an_empty_app_secret_never_verifies() -> None:
    assert verify_signature("", BODY, f"sha256={_hex('', BODY)}") is False


def test_subscription_handshake() -> None:
    good = {"hub.mode": "subscribe", "hub.verify_token": "s3cret", "hub.challenge": "1158201444"}
    assert verify_subscription(good, "s3cret") == "1158201444"
    assert verify_subscription({**good, "hub.verify_token": "guess"}, "s3cret") is None
    assert verify_subscription({**good, "hub.mode": "unsubscribe"}, "s3cret") is None
    assert verify_subscription({**good, "hub.challenge": ""}, "s3cret") is None
    assert verify_subscription(good, "") is None


# --- time and cursor helpers ------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-01-05T09:00:00+0000", datetime(2026, 1, 5, 9, 0, tzinfo=UTC)),
        ("2026-01-05T10:00:00+01:00", datetime(2026, 1, 5, 9, 0, tzinfo=UTC)),
        (1767603600, datetime(2026, 1, 5, 9, 0, tzinfo=UTC)),
        ("1767603600", datetime(2026, 1, 5, 9, 0, tzinfo=UTC)),
        ("2026-01-05T09:00:00", None),
        ("yesterday", None),
        (True, None),
        (None, None),
        (10**20, None),
    ],
)
def test_graph_times(value: Any, expected: datetime | None) -> None:
    assert parse_graph_time(value) == expected


def test_time_cursor_round_trip_and_coverage() -> None:
    cursor = TimeCursor.parse("1767603600|a_1,b_2")
    assert cursor is not None
    assert cursor.encode() == "1767603600|a_1,b_2"
    moment = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    assert cursor.covers("a_1", moment.replace(microsecond=500))
    assert not cursor.covers("c_3", moment)
    assert cursor.covers("c_3", datetime(2026, 1, 5, 8, 59, 59, tzinfo=UTC))
    later = cursor.advance("d_4", datetime(2026, 1, 5, 9, 0, 1, tzinfo=UTC))
    assert later.encode() == "1767603601|d_4"
    assert cursor.advance("c_3", moment).encode() == "1767603600|a_1,b_2,c_3"
    assert TimeCursor.parse("2026-01-05T09:00:00+00:00") == TimeCursor(moment)
    assert TimeCursor.parse(None) is None
    crowded = TimeCursor(moment, frozenset(f"{n}_{n}" for n in range(100)))
    assert crowded.encode() == "1767603600"  # too many ids for the column: only the second
    with pytest.raises(ValueError):
        TimeCursor.parse("2026-01-05T09:00:00")
    with pytest.raises(ValueError):
        TimeCursor.parse("soon")
