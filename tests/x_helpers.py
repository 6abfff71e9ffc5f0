"""Fixtures and helpers for the X tests: a running XSimulator, a real tweepy client, fixture scripts.

Test modules import the fixture functions (``from tests.x_helpers import x_sim_fixture``);
pytest registers them under their ``name=`` (``clock``, ``x_sim``, ``x_client``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import tweepy

from listeners.x_client import make_x_client
from simulator.x import XSimulator
from tactful.clock import FrozenClock

FIXTURES = Path(__file__).parent / "fixtures" / "x"
BRAND_ID = "1000"
BRAND_USERNAME = "acme"
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def load_fixture(name: str) -> dict[str, Any]:
    """Load tests/fixtures/x/<name>.json."""
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def parse_time(value: str) -> datetime:
    """Parse a fixture timestamp into an aware UTC datetime."""
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def play_script(sim: XSimulator, script: dict[str, Any]) -> dict[str, str]:
    """Create the script's users and tweets in `sim`; return tweet key -> tweet id."""
    for user in script.get("users", []):
        sim.add_user(user["id"], user["username"], user["name"], accepts_dms=user.get("accepts_dms", True))
    ids: dict[str, str] = {}
    for tweet in script.get("tweets", []):
        ids[tweet["key"]] = sim.post(
            tweet["author"],
            tweet["text"],
            in_reply_to=ids[tweet["in_reply_to"]] if tweet.get("in_reply_to") else None,
            retweet_of=ids[tweet["retweet_of"]] if tweet.get("retweet_of") else None,
            lang=tweet.get("lang"),
            created_at=parse_time(tweet["created_at"]) if tweet.get("created_at") else None,
        )
    return ids


def client_for(
    sim: XSimulator, timeout: float = 5.0, bearer_token: str | None = "test-bearer"
) -> tweepy.Client:
    """Build a real tweepy client pointed at the simulator (brand OAuth 1.0a credentials)."""
    return make_x_client(
        sim.base_url,
        bearer_token=bearer_token,
        consumer_key="test-consumer-key",
        consumer_secret="test-consumer-secret",
        access_token=f"{BRAND_ID}-test-access-token",
        access_token_secret="test-access-secret",
        timeout=timeout,
    )


@pytest.fixture(name="clock")
def clock_fixture() -> FrozenClock:
    """A frozen clock at a fixed Monday morning."""
    return FrozenClock(START)


@pytest.fixture(name="x_sim")
def x_sim_fixture(clock: FrozenClock) -> Iterator[XSimulator]:
    """A running XSimulator for brand @acme (id 1000), on the frozen clock."""
    sim = XSimulator(BRAND_ID, BRAND_USERNAME, clock, brand_name="Acme Support")
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture(name="x_client")
def x_client_fixture(x_sim: XSimulator) -> tweepy.Client:
    """A real tweepy client talking to `x_sim` over HTTP."""
    return client_for(x_sim)
