"""Fixtures and helpers for the Telegram tests: a running simulator, a real PTB client, fixture scripts.

Test modules import the fixture functions (``from tests.telegram_helpers import tg_sim_fixture``);
pytest registers them under their ``name=`` (``clock``, ``tg_sim``, ``tg_client``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from listeners.telegram_client import TelegramClient, TelegramTimeouts
from simulator.telegram import TelegramSimulator
from tactful.clock import FrozenClock

FIXTURES = Path(__file__).parent / "fixtures" / "telegram"
TOKEN = "4242:AAH-test_secret-token"
BOT_ID = "4242"
BOT_USERNAME = "acme_support_bot"
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
FAST = TelegramTimeouts(connect=2.0, read=2.0, write=2.0, pool=2.0)


def load_fixture(name: str) -> dict[str, Any]:
    """Load tests/fixtures/telegram/<name>.json."""
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def play_script(sim: TelegramSimulator, clock: FrozenClock, script: dict[str, Any]) -> dict[str, int]:
    """Create the script's users, groups and messages in `sim`; return event key -> message id."""
    for user in script.get("users", []):
        sim.add_user(
            user["id"],
            user["first_name"],
            user.get("username"),
            last_name=user.get("last_name"),
            language_code=user.get("language_code"),
            is_bot=user.get("is_bot", False),
        )
    for group in script.get("groups", []):
        sim.add_group(group["id"], group["title"], group["type"], is_forum=group.get("is_forum", False))
    ids: dict[str, int] = {}
    for event in script["events"]:
        clock.advance(event.get("advance", 0))
        if "start" in event:
            ids[event["key"]] = sim.user_starts_bot(event["start"], event.get("payload"))
        else:
            ids[event["key"]] = sim.user_says(
                event["chat"],
                event["user"],
                event["text"],
                reply_to=ids[event["reply_to"]] if event.get("reply_to") else None,
                topic_id=event.get("topic_id"),
            )
    return ids


def client_for(
    sim: TelegramSimulator,
    token: str = TOKEN,
    timeouts: TelegramTimeouts = FAST,
    clock: FrozenClock | None = None,
) -> TelegramClient:
    """Build a real PTB-backed client pointed at the simulator (close it after use)."""
    return TelegramClient(token, base_url=sim.base_url + "/bot", timeouts=timeouts, clock=clock)


@pytest.fixture(name="clock")
def clock_fixture() -> FrozenClock:
    """A frozen clock at a fixed Monday morning."""
    return FrozenClock(START)


@pytest.fixture(name="tg_sim")
def tg_sim_fixture(clock: FrozenClock) -> Iterator[TelegramSimulator]:
    """A running TelegramSimulator for @acme_support_bot, on the frozen clock."""
    sim = TelegramSimulator(TOKEN, BOT_USERNAME, clock, bot_first_name="Acme Support")
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture(name="tg_client")
def tg_client_fixture(tg_sim: TelegramSimulator, clock: FrozenClock) -> Iterator[TelegramClient]:
    """A real PTB client talking to `tg_sim` over HTTP."""
    client = client_for(tg_sim, clock=clock)
    try:
        yield client
    finally:
        client.close()


@dataclass
class WebhookReceiver:
    """A tiny local HTTP endpoint recording what Telegram POSTs to a webhook."""

    status: int = 200
    received: list[tuple[dict[str, str], dict[str, Any]]] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        """Return the receiver's URL."""
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/telegram/webhook"

    def start(self) -> None:
        """Serve in a daemon thread."""
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length))
                owner.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(owner.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


@pytest.fixture(name="receiver")
def receiver_fixture() -> Iterator[WebhookReceiver]:
    """A running webhook receiver."""
    receiver = WebhookReceiver()
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()
