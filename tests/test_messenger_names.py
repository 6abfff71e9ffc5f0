"""Messenger webhooks name the sender only by id: new senders are named from the User Profile API."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from listeners.facebook_client import DEFAULT_RATE_LIMIT_BACKOFF, GraphClient
from listeners.facebook_profiles import MessengerProfiles
from simulator.facebook import FacebookSimulator, sign
from storage import tables as t
from tactful.clock import FrozenClock
from tactful.domain import Author, Channel, Platform
from tactful.sender_names import name_senders
from tactful.web.app import create_app
from tactful.web.receivers import FacebookWebhook
from tests.facebook_helpers import (
    ALICE,
    APP_SECRET,
    BOB,
    CARO,
    PAGE_ID,
    clock_fixture,  # noqa: F401
    fb_sim_fixture,  # noqa: F401
    graph_fixture,  # noqa: F401
)
from tests.factories import make_message

VERIFY_TOKEN = "verify-me"


def profile_requests(sim: FacebookSimulator) -> list[str]:
    """The user ids whose profile the simulator was asked for."""
    return [
        r.path.rsplit("/", 1)[-1]
        for r in sim.request_log()
        if r.method == "GET" and r.path.rsplit("/", 1)[-1] in {ALICE, BOB, CARO}
    ]


def deliver(client: TestClient, sim: FacebookSimulator, user_id: str, text: str) -> int:
    """Have a person message the page and post Meta's signed webhook for it; return the status."""
    mid = sim.message_page(user_id, text)
    body = json.dumps(sim.webhook_payload_for_message(mid)).encode()
    headers = {"X-Hub-Signature-256": sign(body, APP_SECRET), "Content-Type": "application/json"}
    return client.post("/webhooks/facebook", content=body, headers=headers).status_code


def stored_names(db: Engine) -> dict[str, str | None]:
    a = t.authors
    with db.connect() as conn:
        return dict(
            conn.execute(select(a.c.external_id, a.c.display_name).where(a.c.platform == "facebook")).all()
        )


def app_for(db: Engine, clock: FrozenClock, graph: GraphClient) -> TestClient:
    webhook = FacebookWebhook(PAGE_ID, APP_SECRET, VERIFY_TOKEN, sender_names=MessengerProfiles(graph, clock))
    return TestClient(create_app(db, clock, facebook=webhook))


def test_a_new_messenger_sender_is_stored_with_the_name_the_page_can_see(
    sqlite_db: Engine, clock: FrozenClock, fb_sim: FacebookSimulator, graph: GraphClient
) -> None:
    with app_for(sqlite_db, clock, graph) as client:
        assert deliver(client, fb_sim, ALICE, "my parcel never arrived") == 200
        assert deliver(client, fb_sim, ALICE, "any news?") == 200
    assert stored_names(sqlite_db) == {ALICE: "Alice Martin"}
    assert profile_requests(fb_sim) == [ALICE]  # named once: the store remembers the name


def test_a_failed_look_up_stores_the_message_without_a_name_and_logs_once(
    sqlite_db: Engine,
    clock: FrozenClock,
    fb_sim: FacebookSimulator,
    graph: GraphClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fb_sim.fail_next("GET", "/:id", 500, times=2)
    caplog.set_level(logging.INFO, logger="listeners.facebook_profiles")
    with app_for(sqlite_db, clock, graph) as client:
        assert deliver(client, fb_sim, ALICE, "hello?") == 200
        assert deliver(client, fb_sim, BOB, "hello?") == 200
        assert deliver(client, fb_sim, CARO, "hello?") == 200
    with sqlite_db.connect() as conn:
        assert conn.execute(select(t.messages.c.external_id)).scalars().all().__len__() == 3
    assert stored_names(sqlite_db) == {ALICE: None, BOB: None, CARO: "Caro Diaz"}
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "Messenger sender names unavailable" in warnings[0].getMessage()
    assert any("available again" in r.getMessage() for r in caplog.records)


def test_a_rate_limit_stops_look_ups_until_it_lifts(
    sqlite_db: Engine, clock: FrozenClock, fb_sim: FacebookSimulator, graph: GraphClient
) -> None:
    fb_sim.fail_next("GET", "/:id", 400, code=4)  # app limit: no regain estimate, the default backoff
    with app_for(sqlite_db, clock, graph) as client:
        assert deliver(client, fb_sim, ALICE, "hi") == 200
        assert deliver(client, fb_sim, BOB, "hi") == 200  # not looked up: still throttled
        clock.advance(DEFAULT_RATE_LIMIT_BACKOFF + timedelta(minutes=1))
        assert deliver(client, fb_sim, CARO, "hi") == 200
    assert profile_requests(fb_sim) == [ALICE, CARO]
    assert stored_names(sqlite_db) == {ALICE: None, BOB: None, CARO: "Caro Diaz"}


def test_names_are_cleaned_and_each_delivery_looks_up_a_bounded_number_of_senders(
    fb_sim: FacebookSimulator, graph: GraphClient, clock: FrozenClock
) -> None:
    fb_sim.add_user("2004", "Dana\x00 O'Neil")
    profiles = MessengerProfiles(graph, clock, max_per_delivery=2)
    assert profiles.names(["2004", "2004", ALICE, BOB]) == {
        "2004": "Dana\ufffd O'Neil",
        ALICE: "Alice Martin",
    }
    assert profiles.names(["999999"]) == {}  # nobody by that id: no name, no exception


class RecordingNames:
    """A SenderNames that knows everybody and records whom it was asked about."""

    def __init__(self) -> None:
        self.asked: list[list[str]] = []

    def names(self, sender_ids: Sequence[str]) -> dict[str, str]:
        self.asked.append(list(sender_ids))
        return {sender_id: f"Person {sender_id}" for sender_id in sender_ids}


def test_only_nameless_direct_messages_are_looked_up(sqlite_db: Engine) -> None:
    named_dm = make_message(
        "m1", platform=Platform.FACEBOOK, channel=Channel.DIRECT, author_id="7", username="dana"
    )
    nameless_dm = replace(
        make_message("m2", platform=Platform.FACEBOOK, channel=Channel.DIRECT, author_id="8"),
        author=Author(platform=Platform.FACEBOOK, external_id="8"),
    )
    nameless_comment = replace(
        make_message("m3", platform=Platform.FACEBOOK, channel=Channel.COMMENT, author_id="9"),
        author=Author(platform=Platform.FACEBOOK, external_id="9"),
    )
    lookup = RecordingNames()
    named = name_senders(sqlite_db, lookup, [named_dm, nameless_dm, nameless_comment])
    assert lookup.asked == [["8"]]
    assert [m.author.display_name for m in named] == [named_dm.author.display_name, "Person 8", None]
