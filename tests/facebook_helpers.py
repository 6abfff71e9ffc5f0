"""Fixtures and helpers for the Facebook tests: a running FacebookSimulator, a real GraphClient, fixtures.

Test modules import the fixture functions (``from tests.facebook_helpers import fb_sim_fixture``);
pytest registers them under their ``name=`` (``clock``, ``fb_sim``, ``graph``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from listeners.facebook_client import GraphClient
from listeners.facebook_webhook import verify_signature
from simulator.facebook import FacebookSimulator
from simulator.http import LoopbackServer, SimRequest, SimResponse, json_response
from tactful.clock import FrozenClock

FIXTURES = Path(__file__).parent / "fixtures" / "facebook"
PAGE_ID = "1000"
PAGE_NAME = "Acme Support"
PAGE_TOKEN = "test-page-token"
APP_SECRET = "test-app-secret"
API_VERSION = "v21.0"
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
ALICE, BOB, CARO = "2001", "2002", "2003"


def load_fixture(name: str) -> Any:
    """Load tests/fixtures/facebook/<name>.json."""
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def graph_for(
    sim: FacebookSimulator,
    *,
    timeout: float = 5.0,
    token: str = PAGE_TOKEN,
    clock: FrozenClock | None = None,
    api_version: str = API_VERSION,
) -> GraphClient:
    """Build a real facebook-sdk GraphClient pointed at the simulator."""
    return GraphClient(token, graph_url=sim.base_url, api_version=api_version, timeout=timeout, clock=clock)


def add_people(sim: FacebookSimulator) -> None:
    """Create Alice, Bob and Caro."""
    sim.add_user(ALICE, "Alice Martin")
    sim.add_user(BOB, "Bob Stone")
    sim.add_user(CARO, "Caro Diaz")


class WebhookReceiver(LoopbackServer):
    """A stand-in for tactful's webhook endpoint: checks the signature and keeps good bodies."""

    def __init__(self, app_secret: str = APP_SECRET) -> None:
        super().__init__()
        self._app_secret = app_secret
        self._lock = threading.Lock()
        self.accepted: list[dict[str, Any]] = []
        self.rejected = 0

    @property
    def url(self) -> str:
        """The webhook URL to give the simulator."""
        return self.base_url + "/webhooks/facebook"

    def handle(self, request: SimRequest) -> SimResponse:
        """Accept a correctly signed JSON POST (200), refuse anything else (403)."""
        with self._lock:
            signature = request.headers.get("x-hub-signature-256")
            if request.method != "POST" or not verify_signature(self._app_secret, request.body, signature):
                self.rejected += 1
                return json_response(403, {"error": "bad signature"})
            self.accepted.append(request.json())
            return json_response(200, {"ok": True})


@pytest.fixture(name="clock")
def clock_fixture() -> FrozenClock:
    """A frozen clock at a fixed Monday morning."""
    return FrozenClock(START)


@pytest.fixture(name="fb_sim")
def fb_sim_fixture(clock: FrozenClock) -> Iterator[FacebookSimulator]:
    """A running FacebookSimulator for page 1000 with Alice, Bob and Caro, on the frozen clock."""
    sim = FacebookSimulator(PAGE_ID, PAGE_TOKEN, clock, app_secret=APP_SECRET, page_name=PAGE_NAME)
    add_people(sim)
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture(name="graph")
def graph_fixture(fb_sim: FacebookSimulator, clock: FrozenClock) -> GraphClient:
    """A real facebook-sdk GraphClient talking to `fb_sim` over HTTP."""
    return graph_for(fb_sim, clock=clock)


@pytest.fixture(name="receiver")
def receiver_fixture() -> Iterator[WebhookReceiver]:
    """A running webhook receiver that verifies Meta's signature."""
    receiver = WebhookReceiver()
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()
