"""FacebookSimulator: Graph API shapes, auth, paging, Send API rules, quotas, faults and webhooks over HTTP."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import requests

from simulator.facebook import FacebookSimulator, RateLimitScope, parse_fields
from tactful.clock import FrozenClock
from tests.facebook_helpers import (  # noqa: F401  (fixtures)
    ALICE,
    APP_SECRET,
    BOB,
    CARO,
    PAGE_ID,
    PAGE_TOKEN,
    WebhookReceiver,
    clock_fixture,
    fb_sim_fixture,
    receiver_fixture,
)

AUTH = {"Authorization": f"Bearer {PAGE_TOKEN}"}


def _get(sim: FacebookSimulator, path: str, **params: Any) -> requests.Response:
    return requests.get(f"{sim.base_url}/v21.0{path}", params=params, headers=AUTH, timeout=5)


def _post(
    sim: FacebookSimulator, path: str, headers: dict[str, str] | None = None, **kwargs: Any
) -> requests.Response:
    return requests.post(
        f"{sim.base_url}/v21.0{path}", headers={**AUTH, **(headers or {})}, timeout=5, **kwargs
    )


def _error(response: requests.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    assert set(error) >= {"message", "type", "code", "fbtrace_id"}
    return error


def test_the_token_is_accepted_from_header_query_or_form(fb_sim: FacebookSimulator) -> None:
    url = f"{fb_sim.base_url}/v21.0/{PAGE_ID}"
    assert requests.get(url, headers=AUTH, timeout=5).json() == {"id": PAGE_ID, "name": "Acme Support"}
    assert requests.get(url, params={"access_token": PAGE_TOKEN}, timeout=5).status_code == 200
    post = fb_sim.add_post("hello")
    comment = fb_sim.comment(post, ALICE, "hi")
    form = requests.post(
        f"{fb_sim.base_url}/v21.0/{comment}/comments",
        data={"message": "welcome", "access_token": PAGE_TOKEN},
        timeout=5,
    )
    assert form.status_code == 200
    assert [entry.token_source for entry in fb_sim.request_log()] == ["header", "query", "form"]
    assert all("access_token" not in entry.query for entry in fb_sim.request_log())


def test_wrong_or_missing_tokens_are_oauth_errors(fb_sim: FacebookSimulator) -> None:
    wrong = requests.get(
        f"{fb_sim.base_url}/v21.0/{PAGE_ID}", headers={"Authorization": "Bearer nope"}, timeout=5
    )
    assert wrong.status_code == 400
    error = _error(wrong)
    assert (error["code"], error["type"]) == (190, "OAuthException")
    assert error["message"].startswith("Invalid OAuth access token")
    missing = requests.get(f"{fb_sim.base_url}/v21.0/{PAGE_ID}", timeout=5)
    assert _error(missing)["code"] == 104


def test_any_version_is_served_but_a_version_is_required(fb_sim: FacebookSimulator) -> None:
    for version in ("v3.1", "v21.0", "v99.9"):
        response = requests.get(f"{fb_sim.base_url}/{version}/{PAGE_ID}", headers=AUTH, timeout=5)
        assert response.status_code == 200
        assert response.headers["facebook-api-version"] == version
    unversioned = requests.get(f"{fb_sim.base_url}/{PAGE_ID}", headers=AUTH, timeout=5)
    assert _error(unversioned)["code"] == 2500


def test_unknown_objects_and_edges_are_graph_errors(fb_sim: FacebookSimulator) -> None:
    missing = _get(fb_sim, "/424242_1")
    assert missing.status_code == 400
    error = _error(missing)
    assert (error["code"], error["error_subcode"], error["type"]) == (100, 33, "GraphMethodException")
    assert "does not exist" in error["message"]
    assert _error(_get(fb_sim, f"/{PAGE_ID}/friends"))["code"] == 100
    assert _error(_get(fb_sim, f"/{PAGE_ID}/posts/extra"))["code"] == 2500
    assert _error(_get(fb_sim, f"/{PAGE_ID}", fields="from{id"))["code"] == 2500


def test_ids_look_like_graph_ids(fb_sim: FacebookSimulator) -> None:
    post = fb_sim.add_post("hello")
    comment = fb_sim.comment(post, ALICE, "hi")
    mid = fb_sim.message_page(BOB, "hey")
    page_part, post_number = post.split("_")
    assert page_part == PAGE_ID and post_number.isdigit()
    assert comment.split("_")[0] == post_number
    assert mid.startswith("m_") and len(mid) <= 64
    conversation = fb_sim.conversation_id_for(BOB)
    assert conversation is not None and conversation.startswith("t_")


def test_posts_page_with_cursors_and_since(fb_sim: FacebookSimulator, clock: FrozenClock) -> None:
    posts = []
    for n in range(7):
        posts.append(fb_sim.add_post(f"post {n}"))
        clock.advance(60)
    seen: list[str] = []
    params: dict[str, Any] = {"limit": "3", "fields": "id,message,created_time,updated_time"}
    pages = 0
    while True:
        body = _get(fb_sim, f"/{PAGE_ID}/posts", **params).json()
        pages += 1
        seen.extend(item["id"] for item in body["data"])
        assert set(body["paging"]["cursors"]) == {"before", "after"}
        if "next" not in body["paging"]:
            break
        assert body["paging"]["next"].startswith(fb_sim.base_url + f"/v21.0/{PAGE_ID}/posts?")
        params["after"] = body["paging"]["cursors"]["after"]
    assert pages == 3
    assert seen == list(reversed(posts))
    first = _get(fb_sim, f"/{PAGE_ID}/feed", fields="id,message,created_time", limit="1").json()["data"][0]
    assert first == {"id": posts[-1], "message": "post 6", "created_time": "2026-01-05T09:06:00+0000"}
    since = int((clock.now() - timedelta(minutes=3)).timestamp())
    recent = _get(fb_sim, f"/{PAGE_ID}/posts", since=str(since)).json()["data"]
    assert [item["id"] for item in recent] == [posts[6], posts[5], posts[4]]
    assert _error(_get(fb_sim, f"/{PAGE_ID}/posts", limit="0"))["code"] == 100
    assert _error(_get(fb_sim, f"/{PAGE_ID}/posts", after="bogus"))["code"] == 100
    assert _error(_get(fb_sim, f"/{PAGE_ID}/posts", since="soon"))["code"] == 100


def test_comment_listing_filters_orders_and_selects_fields(
    fb_sim: FacebookSimulator, clock: FrozenClock
) -> None:
    post = fb_sim.add_post("sale")
    top = fb_sim.comment(post, ALICE, "first")
    clock.advance(10)
    reply = fb_sim.comment(post, BOB, "second", parent_comment_id=top)
    clock.advance(10)
    deeper = fb_sim.comment(post, CARO, "third", parent_comment_id=reply)
    clock.advance(10)
    other = fb_sim.comment(post, BOB, "fourth")
    fields = "id,message,from{id,name},created_time,parent{id}"
    toplevel = _get(fb_sim, f"/{post}/comments", fields=fields).json()["data"]
    assert [c["id"] for c in toplevel] == [top, other]
    stream = _get(fb_sim, f"/{post}/comments", fields=fields, filter="stream").json()["data"]
    assert [c["id"] for c in stream] == [top, reply, deeper, other]
    assert stream[1] == {
        "id": reply,
        "message": "second",
        "from": {"id": BOB, "name": "Bob Stone"},
        "created_time": "2026-01-05T09:00:10+0000",
        "parent": {"id": top},
    }
    assert stream[2]["parent"] == {"id": top}  # a reply to a reply joins the top-level thread
    assert "parent" not in stream[0]
    newest_first = _get(fb_sim, f"/{post}/comments", filter="stream", order="reverse_chronological").json()
    assert [c["id"] for c in newest_first["data"]] == [other, deeper, reply, top]
    assert set(newest_first["data"][0]) == {"id", "message", "from", "created_time"}
    since = int((clock.now() - timedelta(seconds=10)).timestamp())
    recent = _get(fb_sim, f"/{post}/comments", filter="stream", since=str(since)).json()["data"]
    assert [c["id"] for c in recent] == [deeper, other]
    replies = _get(fb_sim, f"/{top}/comments", fields="id,from{id}").json()["data"]
    assert replies == [{"id": reply, "from": {"id": BOB}}, {"id": deeper, "from": {"id": CARO}}]
    assert _error(_get(fb_sim, f"/{post}/comments", order="random"))["code"] == 100
    post_view = _get(fb_sim, f"/{post}", fields="id,updated_time").json()
    assert post_view == {"id": post, "updated_time": "2026-01-05T09:00:30+0000"}


def test_conversations_and_messages(fb_sim: FacebookSimulator, clock: FrozenClock) -> None:
    first = fb_sim.message_page(ALICE, "hello")
    clock.advance(60)
    fb_sim.message_page(BOB, "hi")
    clock.advance(60)
    second = fb_sim.message_page(ALICE, "anyone?")
    body = _get(
        fb_sim, f"/{PAGE_ID}/conversations", platform="messenger", fields="id,updated_time,participants"
    ).json()
    alice_thread = fb_sim.conversation_id_for(ALICE)
    assert [c["id"] for c in body["data"]] == [alice_thread, fb_sim.conversation_id_for(BOB)]
    assert body["data"][0]["updated_time"] == "2026-01-05T09:02:00+0000"
    assert body["data"][0]["participants"]["data"][0] == {
        "name": "Alice Martin",
        "email": f"{ALICE}@facebook.com",
        "id": ALICE,
    }
    only_bob = _get(fb_sim, f"/{PAGE_ID}/conversations", platform="messenger", user_id=BOB).json()["data"]
    assert [c["id"] for c in only_bob] == [fb_sim.conversation_id_for(BOB)]
    assert _get(fb_sim, f"/{PAGE_ID}/conversations", platform="instagram").json() == {"data": []}
    messages = _get(fb_sim, f"/{alice_thread}/messages", fields="id,message,from,to,created_time").json()
    assert [m["id"] for m in messages["data"]] == [second, first]
    assert messages["data"][1] == {
        "id": first,
        "message": "hello",
        "from": {"name": "Alice Martin", "email": f"{ALICE}@facebook.com", "id": ALICE},
        "to": {"data": [{"name": "Acme Support", "email": f"{PAGE_ID}@facebook.com", "id": PAGE_ID}]},
        "created_time": "2026-01-05T09:00:00+0000",
    }
    assert _get(fb_sim, f"/{alice_thread}/messages").json()["data"][0] == {
        "id": second,
        "created_time": "2026-01-05T09:02:00+0000",
    }


def test_replying_to_comments_and_hiding_them(fb_sim: FacebookSimulator) -> None:
    post = fb_sim.add_post("sale")
    top = fb_sim.comment(post, ALICE, "first")
    reply = fb_sim.comment(post, BOB, "second", parent_comment_id=top)
    answered = _post(fb_sim, f"/{reply}/comments", data={"message": "Thanks Bob"})
    assert answered.status_code == 200
    [record] = fb_sim.page_comment_replies()
    assert answered.json() == {"id": record.comment_id}
    assert (record.target_id, record.parent_comment_id, record.post_id) == (reply, top, post)
    on_post = _post(fb_sim, f"/{post}/comments", data={"message": "Welcome all"}).json()
    assert fb_sim.page_comment_replies()[1].parent_comment_id is None
    assert on_post["id"].startswith(post.split("_")[1] + "_")
    assert _error(_post(fb_sim, f"/{top}/comments", data={"message": "  "}))["code"] == 100
    hidden = _post(fb_sim, f"/{reply}", data={"is_hidden": "true"})
    assert hidden.json() == {"success": True}
    assert fb_sim.hidden_comment_ids() == {reply}
    assert _get(fb_sim, f"/{reply}", fields="id,is_hidden").json() == {"id": reply, "is_hidden": True}
    _post(fb_sim, f"/{reply}", data={"is_hidden": "false"})
    assert fb_sim.hidden_comment_ids() == set()
    assert _error(_post(fb_sim, f"/{reply}", data={"is_hidden": "maybe"}))["code"] == 100
    assert _error(_post(fb_sim, "/999_999", data={"is_hidden": "true"}))["error_subcode"] == 33


def _send(sim: FacebookSimulator, recipient: dict[str, str], text: str, **extra: Any) -> requests.Response:
    body = {"recipient": recipient, "message": {"text": text}, **extra}
    return _post(sim, f"/{PAGE_ID}/messages", json=body)


def test_messenger_replies_inside_the_24_hour_window(fb_sim: FacebookSimulator, clock: FrozenClock) -> None:
    fb_sim.message_page(ALICE, "help")
    clock.advance(timedelta(hours=23, minutes=59))
    ok = _send(fb_sim, {"id": ALICE}, "Hi Alice", messaging_type="RESPONSE")
    assert ok.status_code == 200
    [sent] = fb_sim.messenger_sends()
    assert ok.json() == {"recipient_id": ALICE, "message_id": sent.message_id}
    assert (sent.recipient_id, sent.text, sent.messaging_type) == (ALICE, "Hi Alice", "RESPONSE")
    assert sent.conversation_id == fb_sim.conversation_id_for(ALICE)
    echo = fb_sim.webhook_payload_for_message(sent.message_id)["entry"][0]["messaging"][0]
    assert (echo["sender"]["id"], echo["message"]["is_echo"]) == (PAGE_ID, True)
    # Form bodies with JSON-encoded fields (what facebook-sdk sends) work too.
    form = _post(
        fb_sim,
        f"/{PAGE_ID}/messages",
        data={
            "recipient": json.dumps({"id": ALICE}),
            "message": json.dumps({"text": "And more"}),
            "messaging_type": "RESPONSE",
        },
    )
    assert form.status_code == 200
    clock.advance(timedelta(minutes=2))
    late = _send(fb_sim, {"id": ALICE}, "Still there?", messaging_type="RESPONSE")
    error = _error(late)
    assert (error["code"], error["error_subcode"]) == (10, 2018278)
    assert error["message"] == "(#10) This message is sent outside of allowed window."
    assert [s.text for s in fb_sim.messenger_sends()] == ["Hi Alice", "And more"]
    fb_sim.message_page(ALICE, "yes!")
    assert _send(fb_sim, {"id": ALICE}, "Great", messaging_type="RESPONSE").status_code == 200


def test_send_api_refusals(fb_sim: FacebookSimulator) -> None:
    never_wrote = _error(_send(fb_sim, {"id": BOB}, "hi", messaging_type="RESPONSE"))
    assert (never_wrote["code"], never_wrote["error_subcode"]) == (10, 2018278)
    unknown = _error(_send(fb_sim, {"id": "9999"}, "hi", messaging_type="RESPONSE"))
    assert (unknown["code"], unknown["error_subcode"]) == (100, 2018001)
    fb_sim.message_page(CARO, "hi")
    fb_sim.set_messaging_blocked(CARO)
    blocked = _error(_send(fb_sim, {"id": CARO}, "hi", messaging_type="RESPONSE"))
    assert (blocked["code"], blocked["error_subcode"]) == (551, 1545041)
    fb_sim.set_messaging_blocked(CARO, blocked=False)
    assert _error(_send(fb_sim, {"id": CARO}, "hi"))["code"] == 100  # messaging_type is required
    assert _error(_send(fb_sim, {"id": CARO}, "", messaging_type="RESPONSE"))["error_subcode"] == 2018034
    assert _error(_send(fb_sim, {"id": CARO}, "x" * 2001, messaging_type="RESPONSE"))["code"] == 100
    assert _error(_post(fb_sim, f"/{PAGE_ID}/messages", json={"message": {"text": "x"}}))["code"] == 100
    bad_json = _post(
        fb_sim, f"/{PAGE_ID}/messages", data=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert _error(bad_json)["code"] == 100
    assert fb_sim.messenger_sends() == []


def test_one_private_reply_per_comment_within_seven_days(
    fb_sim: FacebookSimulator, clock: FrozenClock
) -> None:
    post = fb_sim.add_post("sale")
    comment = fb_sim.comment(post, ALICE, "my card was charged twice")
    first = _send(fb_sim, {"comment_id": comment}, "Let's sort this out privately")
    assert first.status_code == 200
    [reply] = fb_sim.private_replies()
    assert first.json() == {"recipient_id": ALICE, "message_id": reply.message_id}
    assert (reply.comment_id, reply.recipient_id) == (comment, ALICE)
    again = _error(_send(fb_sim, {"comment_id": comment}, "Hello again"))
    assert (again["code"], again["message"]) == (10900, "(#10900) Activity already replied to")
    old = fb_sim.comment(post, BOB, "old complaint")
    clock.advance(timedelta(days=7, seconds=1))
    assert _error(_send(fb_sim, {"comment_id": old}, "Sorry for the delay"))["code"] == 10903
    page_comment = _post(fb_sim, f"/{post}/comments", data={"message": "Hello all"}).json()["id"]
    assert _error(_send(fb_sim, {"comment_id": page_comment}, "to myself"))["code"] == 10903
    assert len(fb_sim.private_replies()) == 1
    # A private reply does not open the 24-hour window: only the person writing back does.
    assert _error(_send(fb_sim, {"id": ALICE}, "follow-up", messaging_type="RESPONSE"))["code"] == 10


@pytest.mark.parametrize(
    ("scope", "code", "header"),
    [
        (RateLimitScope.APP, 4, "x-app-usage"),
        (RateLimitScope.USER, 17, "x-app-usage"),
        (RateLimitScope.PAGE, 32, "x-business-use-case-usage"),
        (RateLimitScope.CUSTOM, 613, "x-business-use-case-usage"),
        (RateLimitScope.PAGES_BUC, 80001, "x-business-use-case-usage"),
        (RateLimitScope.MESSENGER_BUC, 80006, "x-business-use-case-usage"),
    ],
)
def test_quotas_answer_with_metas_codes_and_usage_headers(
    fb_sim: FacebookSimulator, clock: FrozenClock, scope: RateLimitScope, code: int, header: str
) -> None:
    fb_sim.set_rate_limit(scope, 2, 3600)
    usages = [json.loads(_get(fb_sim, f"/{PAGE_ID}").headers[header]) for _ in range(2)]
    limited = _get(fb_sim, f"/{PAGE_ID}")
    assert limited.status_code == 400
    assert _error(limited)["code"] == code
    throttled = json.loads(limited.headers[header])
    if header == "x-app-usage":
        assert [u["call_count"] for u in usages] == [50, 100]
        assert throttled == {"call_count": 100, "total_cputime": 100, "total_time": 100}
    else:
        assert [u[PAGE_ID][0]["call_count"] for u in usages] == [50, 100]
        [entry] = throttled[PAGE_ID]
        assert entry["type"] == ("messenger" if scope is RateLimitScope.MESSENGER_BUC else "pages")
        assert entry["estimated_time_to_regain_access"] == 60
    clock.advance(3601)
    assert _get(fb_sim, f"/{PAGE_ID}").status_code == 200


def test_quotas_can_target_a_method_and_path(fb_sim: FacebookSimulator) -> None:
    fb_sim.message_page(ALICE, "hi")
    fb_sim.set_rate_limit("messenger_buc", 1, 60, method="POST", path="/:id/messages")
    assert _send(fb_sim, {"id": ALICE}, "one", messaging_type="RESPONSE").status_code == 200
    assert _error(_send(fb_sim, {"id": ALICE}, "two", messaging_type="RESPONSE"))["code"] == 80006
    assert _get(fb_sim, f"/{PAGE_ID}").status_code == 200
    assert "x-business-use-case-usage" not in _get(fb_sim, f"/{PAGE_ID}").headers
    assert len(fb_sim.messenger_sends()) == 1


def test_default_quota_reports_pages_usage(fb_sim: FacebookSimulator) -> None:
    usage = json.loads(_get(fb_sim, f"/{PAGE_ID}").headers["x-business-use-case-usage"])
    assert usage[PAGE_ID][0]["type"] == "pages"
    assert usage[PAGE_ID][0]["estimated_time_to_regain_access"] == 0


def test_fail_next_injects_errors_then_recovers(fb_sim: FacebookSimulator) -> None:
    fb_sim.fail_next("GET", "/:id", 503, times=2)
    fb_sim.fail_next("*", "/:id/messages", 400, code=32, regain_minutes=7)
    first = _get(fb_sim, f"/{PAGE_ID}")
    assert first.status_code == 503
    error = _error(first)
    assert (error["code"], error["is_transient"]) == (2, True)
    assert _get(fb_sim, f"/{PAGE_ID}").status_code == 503
    assert _get(fb_sim, f"/{PAGE_ID}").status_code == 200
    throttled = _send(fb_sim, {"id": ALICE}, "hi", messaging_type="RESPONSE")
    assert _error(throttled)["code"] == 32
    usage = json.loads(throttled.headers["x-business-use-case-usage"])
    assert usage[PAGE_ID][0]["estimated_time_to_regain_access"] == 7
    fb_sim.fail_next("GET", "/:id/*", 400, code=10, subcode=2018108, message="(#10) Custom refusal")
    custom = _error(_get(fb_sim, f"/{PAGE_ID}/posts"))
    assert (custom["code"], custom["error_subcode"], custom["message"]) == (
        10,
        2018108,
        "(#10) Custom refusal",
    )
    assert [entry.status for entry in fb_sim.request_log()] == [503, 503, 200, 400, 400]


def test_latency_is_released_when_the_simulator_stops(clock: FrozenClock) -> None:
    sim = FacebookSimulator(PAGE_ID, PAGE_TOKEN, clock, app_secret=APP_SECRET)
    sim.start()
    sim.set_latency(30)
    with pytest.raises(requests.Timeout):
        requests.get(f"{sim.base_url}/v21.0/{PAGE_ID}", headers=AUTH, timeout=0.1)
    sim.stop()  # returns promptly: the blocked handler waits on `stopping`


def test_scripting_refuses_unknown_references(fb_sim: FacebookSimulator) -> None:
    post = fb_sim.add_post("hello")
    with pytest.raises(ValueError, match="unknown user"):
        fb_sim.comment(post, "7777", "who am I")
    with pytest.raises(ValueError, match="unknown post"):
        fb_sim.comment("1000_1", ALICE, "where")
    with pytest.raises(ValueError, match="unknown comment"):
        fb_sim.comment(post, ALICE, "reply", parent_comment_id="1_1")
    with pytest.raises(ValueError, match="numeric"):
        fb_sim.add_user(PAGE_ID, "Impostor")
    with pytest.raises(ValueError, match="numeric"):
        FacebookSimulator("acme", PAGE_TOKEN, app_secret=APP_SECRET)


def test_parse_fields() -> None:
    assert parse_fields("id,message,from{id,name},parent{id}") == {
        "id": None,
        "message": None,
        "from": {"id": None, "name": None},
        "parent": {"id": None},
    }
    assert parse_fields(None) == {}
    with pytest.raises(ValueError):
        parse_fields("from{id")
    with pytest.raises(ValueError):
        parse_fields("id,,}")


def test_send_webhook_signs_the_body(fb_sim: FacebookSimulator, receiver: WebhookReceiver) -> None:
    post = fb_sim.add_post("hello")
    comment = fb_sim.comment(post, ALICE, "hi")
    payload = fb_sim.webhook_payload_for_comment(comment)
    assert fb_sim.send_webhook(receiver.url, payload) == 200
    assert receiver.accepted == [payload]
    wrong = FacebookSimulator(PAGE_ID, PAGE_TOKEN, app_secret="not-the-app-secret")
    assert wrong.send_webhook(receiver.url, payload) == 403
    assert receiver.rejected == 1
    assert [d.status for d in fb_sim.webhook_deliveries()] == [200]


def test_auto_webhooks_deliver_comments_messages_and_page_replies(
    fb_sim: FacebookSimulator, receiver: WebhookReceiver
) -> None:
    fb_sim.auto_webhook_url = receiver.url
    post = fb_sim.add_post("hello")
    comment = fb_sim.comment(post, ALICE, "hi")
    mid = fb_sim.message_page(BOB, "hey")
    reply = _post(fb_sim, f"/{comment}/comments", data={"message": "Hello Alice"}).json()["id"]
    assert [
        body["entry"][0].get("changes", [{}])[0].get("value", {}).get("comment_id")
        for body in receiver.accepted
    ] == [
        comment,
        None,
        reply,
    ]
    assert receiver.accepted[1]["entry"][0]["messaging"][0]["message"]["mid"] == mid
    assert receiver.accepted[2]["entry"][0]["changes"][0]["value"]["from"]["id"] == PAGE_ID
    receiver.stop()
    fb_sim.comment(post, BOB, "nobody listening")
    assert [d.status for d in fb_sim.webhook_deliveries()] == [200, 200, 200, 0]
