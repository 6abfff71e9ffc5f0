"""XSimulator: protocol shapes, pagination, quotas, faults and search matching over real HTTP."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import requests
import tweepy

from simulator.x import DOCUMENTED_RATE_LIMITS, XSimulator, compile_search_query
from tactful.clock import FrozenClock
from tests.x_helpers import (  # noqa: F401  (fixtures)
    BRAND_ID,
    clock_fixture,
    load_fixture,
    play_script,
    x_client_fixture,
    x_sim_fixture,
)

AUTH = {"Authorization": "Bearer test-bearer"}


def _get(sim: XSimulator, path: str, **params: str) -> requests.Response:
    return requests.get(sim.base_url + path, params=params, headers=AUTH, timeout=5)


def test_requests_without_credentials_get_a_401_problem(x_sim: XSimulator) -> None:
    response = requests.get(x_sim.base_url + "/2/users/me", timeout=5)
    assert response.status_code == 401
    assert response.json()["title"] == "Unauthorized"
    assert response.json()["status"] == 401
    # tweepy sends "Bearer None" when no token was configured: also refused.
    no_token = requests.get(
        x_sim.base_url + "/2/users/me", headers={"Authorization": "Bearer None"}, timeout=5
    )
    assert no_token.status_code == 401


def test_unknown_route_and_malformed_json_are_problems(x_sim: XSimulator) -> None:
    missing = _get(x_sim, "/2/nothing/here")
    assert missing.status_code == 404
    assert set(missing.json()) >= {"title", "detail", "type", "status"}
    bad = requests.post(
        x_sim.base_url + "/2/tweets",
        data=b"{not json",
        headers={**AUTH, "Content-Type": "application/json"},
        timeout=5,
    )
    assert bad.status_code == 400
    assert bad.json()["type"] == "about:blank"
    assert "JSON" in bad.json()["detail"]


def test_users_me_through_tweepy(x_client: tweepy.Client) -> None:
    response = x_client.get_me(user_auth=True)
    assert response.json() == {"data": {"id": BRAND_ID, "name": "Acme Support", "username": "acme"}}


def test_ids_increase_and_replies_join_the_root_conversation(x_sim: XSimulator) -> None:
    x_sim.add_user("2001", "alice", "Alice")
    root = x_sim.post(BRAND_ID, "hello")
    reply = x_sim.post("2001", "hi", in_reply_to=root)
    deeper = x_sim.post(BRAND_ID, "welcome", in_reply_to=reply)
    assert int(root) < int(reply) < int(deeper)
    assert root.isdigit() and len(root) >= 18
    body = _get(
        x_sim, f"/2/users/{BRAND_ID}/tweets", **{"tweet.fields": "conversation_id,referenced_tweets"}
    ).json()
    by_id = {tweet["id"]: tweet for tweet in body["data"]}
    assert by_id[deeper]["conversation_id"] == root
    assert by_id[deeper]["referenced_tweets"] == [{"type": "replied_to", "id": reply}]
    assert by_id[root]["edit_history_tweet_ids"] == [root]


def test_mentions_paginate_without_gaps_or_overlap(x_sim: XSimulator) -> None:
    x_sim.add_user("2001", "alice", "Alice")
    posted = [x_sim.post("2001", f"@acme message {n}") for n in range(25)]
    seen: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        params = {"max_results": "10"}
        if token:
            params["pagination_token"] = token
        body = _get(x_sim, f"/2/users/{BRAND_ID}/mentions", **params).json()
        pages += 1
        ids = [tweet["id"] for tweet in body["data"]]
        assert body["meta"]["result_count"] == len(ids)
        assert body["meta"]["newest_id"] == ids[0] and body["meta"]["oldest_id"] == ids[-1]
        seen.extend(ids)
        token = body["meta"].get("next_token")
        if token is None:
            break
    assert pages == 3
    assert seen == list(reversed(posted))


def test_since_id_and_post_fields_alias(x_sim: XSimulator) -> None:
    x_sim.add_user("2001", "alice", "Alice")
    first = x_sim.post("2001", "@acme one", lang="en")
    second = x_sim.post("2001", "@acme two", lang="en")
    body = _get(x_sim, f"/2/users/{BRAND_ID}/mentions", since_id=first, **{"post.fields": "lang"}).json()
    assert body["data"] == [
        {"id": second, "text": "@acme two", "edit_history_tweet_ids": [second], "lang": "en"}
    ]
    empty = _get(x_sim, f"/2/users/{BRAND_ID}/mentions", since_id=second).json()
    assert empty == {"meta": {"result_count": 0}}


def test_max_results_out_of_range_is_an_invalid_request(x_sim: XSimulator) -> None:
    response = _get(x_sim, f"/2/users/{BRAND_ID}/mentions", max_results="101")
    assert response.status_code == 400
    assert response.json()["type"] == "https://api.twitter.com/2/problems/invalid-request"
    assert response.json()["errors"][0]["parameters"] == {"max_results": ["101"]}


def test_quota_accounting_counts_down_and_resets_with_the_window(
    x_sim: XSimulator, clock: FrozenClock
) -> None:
    x_sim.set_rate_limit("/2/users/:id/mentions", 3, 60, method="GET")
    reset = str(int((clock.now() + timedelta(seconds=60)).timestamp()))
    remaining = []
    for _ in range(3):
        response = _get(x_sim, f"/2/users/{BRAND_ID}/mentions")
        assert response.status_code == 200
        assert response.headers["x-rate-limit-limit"] == "3"
        assert response.headers["x-rate-limit-reset"] == reset
        remaining.append(response.headers["x-rate-limit-remaining"])
    assert remaining == ["2", "1", "0"]
    limited = _get(x_sim, f"/2/users/{BRAND_ID}/mentions")
    assert limited.status_code == 429
    assert limited.headers["x-rate-limit-remaining"] == "0"
    assert limited.headers["x-rate-limit-reset"] == reset
    # Other endpoints have their own buckets.
    assert _get(x_sim, "/2/users/me").status_code == 200
    clock.advance(61)
    again = _get(x_sim, f"/2/users/{BRAND_ID}/mentions")
    assert again.status_code == 200
    assert again.headers["x-rate-limit-remaining"] == "2"


def test_set_rate_limit_without_method_replaces_the_default_quota(x_sim: XSimulator) -> None:
    x_sim.set_rate_limit("/2/tweets/search/recent", 1, 900)
    assert _get(x_sim, "/2/tweets/search/recent", query="acme").headers["x-rate-limit-limit"] == "1"
    assert _get(x_sim, "/2/tweets/search/recent", query="acme").status_code == 429


def test_documented_limits_are_enforced_for_dm_sends(clock: FrozenClock) -> None:
    with XSimulator(BRAND_ID, "acme", clock, rate_limits=DOCUMENTED_RATE_LIMITS) as sim:
        sim.add_user("2001", "alice", "Alice")
        url = sim.base_url + "/2/dm_conversations/with/2001/messages"
        statuses = [
            requests.post(url, json={"text": f"hi {n}"}, headers=AUTH, timeout=5).status_code
            for n in range(16)
        ]
        assert statuses == [201] * 15 + [429]
        assert len(sim.brand_dms()) == 15


def test_fail_next_injects_problems_then_recovers(x_sim: XSimulator, clock: FrozenClock) -> None:
    x_sim.fail_next("GET", "/2/users/", 503, count=2)
    x_sim.fail_next("*", "/2/tweets/search", 429, retry_after=90)
    first = _get(x_sim, "/2/users/me")
    assert first.status_code == 503
    assert first.json() == {
        "title": "Service Unavailable",
        "detail": "Injected failure for GET /2/users/me",
        "type": "about:blank",
        "status": 503,
    }
    assert _get(x_sim, "/2/users/me").status_code == 503
    assert _get(x_sim, "/2/users/me").status_code == 200
    throttled = _get(x_sim, "/2/tweets/search/recent", query="acme")
    assert throttled.status_code == 429
    assert throttled.headers["x-rate-limit-reset"] == str(int(clock.now().timestamp()) + 90)
    assert _get(x_sim, "/2/tweets/search/recent", query="acme").status_code == 200
    assert [entry.status for entry in x_sim.request_log()] == [503, 503, 200, 429, 200]


def test_dm_to_closed_user_is_forbidden_and_hiding_needs_a_brand_conversation(x_sim: XSimulator) -> None:
    x_sim.add_user("2002", "bob", "Bob", accepts_dms=False)
    closed = requests.post(
        x_sim.base_url + "/2/dm_conversations/with/2002/messages",
        json={"text": "hi"},
        headers=AUTH,
        timeout=5,
    )
    assert closed.status_code == 403
    assert closed.json()["detail"] == "You are not permitted to send messages to this user."
    theirs = x_sim.post("2002", "my thread")
    reply_in_theirs = x_sim.post(BRAND_ID, "@bob hello", in_reply_to=theirs)
    hide_url = x_sim.base_url + f"/2/tweets/{reply_in_theirs}/hidden"
    assert requests.put(hide_url, json={"hidden": True}, headers=AUTH, timeout=5).status_code == 403
    ours = x_sim.post(BRAND_ID, "announcement")
    rude = x_sim.post("2002", "rude words", in_reply_to=ours)
    ok = requests.put(
        x_sim.base_url + f"/2/tweets/{rude}/hidden", json={"hidden": True}, headers=AUTH, timeout=5
    )
    assert ok.status_code == 200 and ok.json() == {"data": {"hidden": True}}
    assert x_sim.hidden_tweet_ids() == {rude}


def test_replies_to_deleted_tweets_carry_partial_errors(x_sim: XSimulator) -> None:
    x_sim.add_user("2001", "alice", "Alice")
    parent = x_sim.post("2001", "first")
    child = x_sim.post("2001", "@acme about my last tweet", in_reply_to=parent)
    x_sim.delete_tweet(parent)
    body = _get(x_sim, f"/2/users/{BRAND_ID}/mentions", expansions="referenced_tweets.id").json()
    assert [tweet["id"] for tweet in body["data"]] == [child]
    assert body["errors"][0]["resource_id"] == parent
    assert body["errors"][0]["type"] == "https://api.twitter.com/2/problems/resource-not-found"


SEARCH = load_fixture("search_script")


@pytest.mark.parametrize("case", SEARCH["queries"], ids=[case["query"] for case in SEARCH["queries"]])
def test_recent_search_matches_the_query_language(x_sim: XSimulator, case: dict[str, Any]) -> None:
    ids = play_script(x_sim, SEARCH)
    key_of = {tweet_id: key for key, tweet_id in ids.items()}
    body = _get(x_sim, "/2/tweets/search/recent", query=str(case["query"]), max_results="100").json()
    assert sorted(key_of[tweet["id"]] for tweet in body.get("data", [])) == sorted(case["expected"])


@pytest.mark.parametrize("query", ["", "acme (unclosed", "bogus:operator acme", '""'])
def test_invalid_search_queries_are_rejected(x_sim: XSimulator, query: str) -> None:
    response = _get(x_sim, "/2/tweets/search/recent", query=query)
    assert response.status_code == 400
    assert response.json()["title"] == "Invalid Request"


def test_compile_search_query_resolves_users() -> None:
    matches = compile_search_query("acme -from:spammer", users=[("3003", "spammer")])
    assert matches({"text": "ACME rocks", "author_id": "1"})
    assert not matches({"text": "ACME rocks", "author_id": "3003"})
    assert not matches({"text": "acmecorp rocks", "author_id": "1"})
