"""Property-based fuzzing of every payload parser with malformed payloads derived from the real shapes.

Each test mutates a real payload (the JSON fixtures under tests/fixtures/<platform>/: dropped,
retyped and nested fields, wrong types, huge and hostile strings, lone surrogates, NULs, bad
timestamps, missing ids, extra keys, truncated JSON text) and runs it through the production
path: the X API pages through tweepy and the listeners, the Graph API pages through
facebook-sdk and the catch-up listeners, Telegram getUpdates results through the listener, and
the Facebook and Telegram webhook bodies through the real signed/secret-checked endpoints. The
property: nothing raises except a typed `PlatformError` with a message; every payload item
becomes a valid normalised message (one that fits the store's columns) or is quarantined with a
reason (or, for known non-customer events, skipped); and what comes out stores without error.

Examples per test: ``TACTFUL_FUZZ_EXAMPLES`` (default `DEFAULT_EXAMPLES`: a few seconds per test).
The acceptance run is ``TACTFUL_FUZZ_EXAMPLES=10000 .venv/bin/pytest -q tests/test_fuzz_payloads.py``
(10,000 per test: 10,000 X pages, 20,000 Facebook and 20,000 Telegram payloads; about 6 minutes).
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers
from sqlalchemy import Engine, func, select

from listeners.facebook import FacebookCommentsListener, FacebookConversationsListener, parse_webhook
from listeners.facebook_client import GraphClient
from listeners.telegram import TelegramUpdatesListener, parse_callback_query, parse_update
from listeners.telegram_client import TelegramClient
from listeners.x import XMentionsListener, XSearchListener, XTweetListener
from listeners.x_client import make_x_client
from storage import tables as t
from storage.db import make_engine
from storage.ingest import store_fetch
from storage.migrate import upgrade
from tactful.clock import FrozenClock
from tactful.domain import CallbackPress, IncomingMessage, Platform, QuarantinedPayload
from tactful.errors import PlatformError
from tactful.payload_fields import storable_text
from tactful.web.app import create_app
from tactful.web.receivers import FacebookWebhook, TelegramWebhook

FIXTURES = Path(__file__).parent / "fixtures"
DEFAULT_EXAMPLES = 200
EXAMPLES = int(os.environ.get("TACTFUL_FUZZ_EXAMPLES", DEFAULT_EXAMPLES))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
NOW = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
PAGE_ID = "1000"
APP_SECRET = "fuzz-app-secret"
TG_SECRET = "fuzz-telegram-secret"
BOT_TOKEN = "4242:fuzz-token"
BOT_USERNAME = "acme_support_bot"


def _load(path: str) -> Any:
    return json.loads((FIXTURES / path).read_text(encoding="utf-8"))


X_PAGE: dict[str, Any] = _load("x/api_pages.json")["mentions_page"]
GRAPH_PAGES: dict[str, Any] = _load("facebook/graph_pages.json")
FB_WEBHOOKS: list[Any] = [
    _load(f"facebook/{name}.json")
    for name in ("webhook_comment", "webhook_comment_reply", "webhook_messages", "webhook_page_comment")
] + [case["payload"] for case in _load("facebook/webhook_malformed.json")]
TG_UPDATES: list[Any] = [case["update"] for case in _load("telegram/updates.json")["cases"]]

# --- strategies -------------------------------------------------------------------------

HOSTILE_STRINGS = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\ud800",
    "x\udfffy",
    "٣٤٥",  # Arabic-Indic digits: str.isdigit() is True
    "²",  # superscript two: isdigit() is True, int() fails
    "9" * 5000,  # beyond Python's int-from-string digit limit
    "1" * 200,
    "x" * 100_000,
    "🙂" * 40,
    "\u202eevil\u202c",
    "null",
    "NaN",
    "-1",
    "0",
    "1e309",
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "2026-13-45T25:61:00Z",
    "2026-01-05T09:00:00",  # no timezone
    "9999-12-31T23:59:59Z",
    "0001-01-01T00:00:00+00:00",
    "yesterday",
    "1767603600",
    "99999999999999999999",
    "page",
    "comment",
    "add",
    "private",
    "supergroup",
    "/start tk_Abc-123",
    "/start " + "A" * 200,
]
HOSTILE_NUMBERS = [
    0,
    -1,
    1,
    2**31,
    2**53 + 1,
    2**63,
    2**64,
    -(2**63) - 1,
    10**20,
    10**40,
    253402300800,
    -62135596801,
]
KEYS = [
    "id",
    "text",
    "message",
    "from",
    "data",
    "meta",
    "includes",
    "users",
    "entry",
    "changes",
    "messaging",
    "value",
    "update_id",
    "message_id",
    "chat",
    "date",
    "created_time",
    "created_at",
    "next_token",
    "paging",
    "error",
    "callback_query",
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from(HOSTILE_NUMBERS),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(HOSTILE_STRINGS),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=8)), inner, max_size=4),
    ),
    max_leaves=10,
)

Path_ = tuple[Any, ...]


def _paths(value: Any, prefix: Path_ = ()) -> Iterator[Path_]:
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _paths(child, (*prefix, index))


def _get(value: Any, path: Path_) -> Any:
    for step in path:
        value = value[step]
    return value


def _retype(value: Any) -> list[Any]:
    """The same datum in other JSON types (a numeric id as a number, a number as a string, ...)."""
    options: list[Any] = [None, [value], {"id": value}, str(value)[:200]]
    if isinstance(value, str):
        try:
            options.append(int(value))
        except ValueError:
            options.append(len(value))
    if isinstance(value, int | float) and not isinstance(value, bool):
        options += [-value, value * 1000, float(value) + 0.5, True]
    return options


@st.composite
def mutated(draw: st.DrawFn, bases: list[Any]) -> Any:
    """A real payload with up to five random mutations applied anywhere in it."""
    value = copy.deepcopy(draw(st.sampled_from(bases)))
    for _ in range(draw(st.integers(0, 5))):
        path = draw(st.sampled_from(list(_paths(value))))
        current = _get(value, path)
        op = draw(st.sampled_from(("drop", "replace", "retype", "nest", "extra", "duplicate")))
        if op == "extra" and isinstance(current, dict):
            current[draw(st.one_of(st.sampled_from(KEYS), st.text(max_size=8)))] = draw(json_values)
            continue
        if op == "duplicate" and isinstance(current, list) and current:
            current.append(copy.deepcopy(draw(st.sampled_from(current))))
            continue
        if op == "drop" and path:
            parent = _get(value, path[:-1])
            del parent[path[-1]]
            continue
        if op == "retype":
            new = draw(st.sampled_from(_retype(current)))
        elif op == "nest":
            new = draw(st.sampled_from([[current], {"data": current}, {"value": current}]))
        else:
            new = draw(json_values)
        if not path:
            value = new
        else:
            _get(value, path[:-1])[path[-1]] = new
    return value


@st.composite
def json_bodies(draw: st.DrawFn, payloads: st.SearchStrategy[Any]) -> bytes:
    """A payload as JSON text, sometimes truncated, spliced with junk bytes or with a huge number."""
    try:
        body = json.dumps(draw(payloads)).encode("utf-8")
    except ValueError:  # an int too long for str(): send it as digits
        body = b"[" + b"9" * 5000 + b"]"
    damage = draw(st.sampled_from(("none", "none", "none", "truncate", "junk", "bom", "bignum")))
    if damage == "truncate" and body:
        body = body[: draw(st.integers(0, len(body) - 1))]
    elif damage == "junk":
        at = draw(st.integers(0, len(body)))
        body = body[:at] + draw(st.binary(min_size=1, max_size=8)) + body[at:]
    elif damage == "bom":
        body = b"\xef\xbb\xbf" + body
    elif damage == "bignum":
        body = body.replace(b"1", b"1" + b"7" * 4400, 1)
    return body


# --- checks -----------------------------------------------------------------------------


def _storable(text: str) -> bool:
    """Whether a string can go into a text column of every supported database."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def _fits(column: Any, value: str | None) -> bool:
    return value is None or (len(value) <= column.type.length and _storable(value))


def check_message(message: Any, platform: Platform) -> None:
    """Assert that a normalised message is well formed and fits the columns it is stored in."""
    assert isinstance(message, IncomingMessage)
    assert message.platform is platform and message.author.platform is platform
    assert message.external_id and _fits(t.messages.c.external_id, message.external_id)
    assert message.thread_external_id and _fits(t.threads.c.external_id, message.thread_external_id)
    assert message.author.external_id and _fits(t.authors.c.external_id, message.author.external_id)
    assert _fits(t.authors.c.username, message.author.username)
    assert _fits(t.authors.c.display_name, message.author.display_name)
    assert _fits(t.messages.c.in_reply_to_external_id, message.in_reply_to_external_id)
    assert _fits(t.messages.c.language_hint, message.language_hint)
    assert _fits(t.messages.c.private_link_token, message.private_link_token)
    assert isinstance(message.text, str) and _storable(message.text)
    assert message.created_at.tzinfo is not None
    assert isinstance(message.raw, dict)


def check_quarantined(item: Any) -> None:
    """Assert that a rejected payload carries its source and a reason."""
    assert isinstance(item, QuarantinedPayload)
    assert isinstance(item.reason, str) and item.reason.strip()
    assert item.source


def check_error(exc: PlatformError) -> None:
    """A whole answer that cannot be read is refused with a typed error that says why."""
    assert str(exc).strip()


def _count(db: Engine, table: Any) -> int:
    with db.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _new_reasons(db: Engine, after_id: int) -> list[str]:
    with db.connect() as conn:
        return list(conn.execute(select(t.quarantine.c.reason).where(t.quarantine.c.id > after_id)).scalars())


def _quarantined_payloads(db: Engine) -> set[str]:
    with db.connect() as conn:
        return set(conn.execute(select(t.quarantine.c.payload)).scalars())


def _last_quarantine_id(db: Engine) -> int:
    with db.connect() as conn:
        return int(conn.execute(select(func.coalesce(func.max(t.quarantine.c.id), 0))).scalar_one())


def _stored_ids(db: Engine, platform: Platform, ids: list[str]) -> set[str]:
    if not ids:
        return set()
    with db.connect() as conn:
        rows = conn.execute(
            select(t.messages.c.external_id).where(
                t.messages.c.platform == platform.value, t.messages.c.external_id.in_(ids)
            )
        )
        return set(rows.scalars())


# --- a canned HTTP transport ------------------------------------------------------------


class CannedAdapter(BaseAdapter):
    """A requests transport answering 200 with queued bodies per path suffix (no sockets)."""

    def __init__(self, empty: bytes) -> None:
        super().__init__()
        self.queues: dict[str, list[bytes]] = {}
        self.served: list[bytes] = []
        self._empty = empty

    def load(self, queues: dict[str, list[bytes]]) -> None:
        """Replace the queued bodies."""
        self.queues = {suffix: list(bodies) for suffix, bodies in queues.items()}
        self.served = []

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        """Answer with the next queued body for the request's path, else the empty page."""
        path = urlsplit(request.url or "").path
        queue = next((q for suffix, q in self.queues.items() if path.endswith(suffix)), None)
        body = queue.pop(0) if queue else self._empty
        if queue is not None:
            self.served.append(body)
        response = requests.Response()
        response.status_code = 200
        response.headers = CaseInsensitiveDict({"content-type": "application/json; charset=UTF-8"})
        response.encoding = get_encoding_from_headers(response.headers)
        response._content = body
        response.url = request.url or ""
        response.request = request
        return response

    def close(self) -> None:
        """Nothing to release."""


# --- fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """One SQLite store for a module's examples (every example's output must store)."""
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'fuzz.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def webhooks(db: Engine) -> Iterator[TestClient]:
    """The real webhook endpoints (Facebook signed, Telegram secret-token) on the fuzz store."""
    app = create_app(
        db,
        FrozenClock(NOW),
        facebook=FacebookWebhook(page_id=PAGE_ID, app_secret=APP_SECRET, verify_token="fuzz-verify"),
        telegram=TelegramWebhook(bot_id="4242", bot_username=BOT_USERNAME, secret=TG_SECRET),
    )
    with TestClient(app) as client:
        yield client


def _store(db: Engine, key: str, result: Any) -> None:
    store_fetch(db, key, result.messages, result.cursor, result.quarantined, NOW, presses=result.presses)


# --- X ----------------------------------------------------------------------------------


def _x_page_count(bodies: list[bytes]) -> int:
    """How many items the served pages hold: each must come out as a message or a quarantined item."""
    total = 0
    for body in bodies:
        data = json.loads(body.decode("utf-8", "replace")).get("data") or []  # as requests reads it
        total += len(data) if isinstance(data, list) else 1
    return total


@FUZZ
@given(
    pages=st.lists(json_bodies(mutated([X_PAGE])), min_size=1, max_size=3),
    cursor=st.sampled_from([None, "1", "2008088577438646272"]),
    search=st.booleans(),
)
def test_x_api_pages(db: Engine, pages: list[bytes], cursor: str | None, search: bool) -> None:
    adapter = CannedAdapter(b'{"meta": {"result_count": 0}}')
    client = make_x_client("http://x.fuzz.invalid", "bearer", "ck", "cs", "1000-at", "ats")
    client.session.mount("http://x.fuzz.invalid/", adapter)
    listener: XTweetListener = (
        XSearchListener(client, "acme") if search else XMentionsListener(client, "1000")
    )
    adapter.load({"/2/tweets/search/recent" if search else "/2/users/1000/mentions": pages})
    try:
        result = listener.fetch(cursor)
    except PlatformError as exc:
        check_error(exc)
        return
    for message in result.messages:
        check_message(message, Platform.X)
    for item in result.quarantined:
        check_quarantined(item)
    assert len(result.messages) + len(result.quarantined) == _x_page_count(adapter.served)
    assert result.cursor is None or _fits(t.cursors.c.cursor, result.cursor)
    _store(db, listener.key, result)


# --- Facebook ---------------------------------------------------------------------------


def _graph_pages(kind: str) -> st.SearchStrategy[list[bytes]]:
    return st.lists(json_bodies(mutated([GRAPH_PAGES[kind]])), max_size=2)


@FUZZ
@given(
    posts=_graph_pages("posts"),
    comments=_graph_pages("comments"),
    conversations=_graph_pages("conversations"),
    messages=_graph_pages("messages"),
    cursor=st.sampled_from([None, "1767603000", "1767603600|100000000000001_100000000000002", "junk"]),
)
def test_facebook_graph_pages(
    db: Engine,
    posts: list[bytes],
    comments: list[bytes],
    conversations: list[bytes],
    messages: list[bytes],
    cursor: str | None,
) -> None:
    adapter = CannedAdapter(b'{"data": []}')
    graph = GraphClient("page-token", graph_url="http://graph.fuzz.invalid", clock=FrozenClock(NOW))
    graph.session.mount("http://graph.fuzz.invalid/", adapter)
    listeners = (
        (
            FacebookCommentsListener(graph, PAGE_ID, clock=graph.clock),
            {"/posts": posts, "/comments": comments},
        ),
        (
            FacebookConversationsListener(graph, PAGE_ID, clock=graph.clock),
            {"/conversations": conversations, "/messages": messages},
        ),
    )
    for listener, queues in listeners:
        adapter.load(queues)
        try:
            result = listener.fetch(cursor)
        except PlatformError as exc:
            check_error(exc)
            continue
        for message in result.messages:
            check_message(message, Platform.FACEBOOK)
        for item in result.quarantined:
            check_quarantined(item)
        assert result.cursor is not None and _fits(t.cursors.c.cursor, result.cursor)
        _store(db, listener.key, result)


def _signed(body: bytes) -> dict[str, str]:
    digest = hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "Content-Type": "application/json"}


def _receive(
    db: Engine,
    post: Callable[[], Any],
    body: bytes,
    parse: Callable[[Any], tuple[list[IncomingMessage], list[QuarantinedPayload]]],
    platform: Platform,
) -> None:
    """Deliver one body to an endpoint; what it stored must be what the parser made of it."""
    before = _last_quarantine_id(db)
    response = post()
    if len(body) > 1_000_000:
        assert response.status_code == 413
        return
    assert response.status_code == 200, response.text
    reasons = _new_reasons(db, before)
    assert all(reason.strip() for reason in reasons)
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        # Quarantined with its reason, once: the same bad body delivered again adds nothing.
        assert len(reasons) <= 1 and all(reason.startswith("body is not JSON") for reason in reasons)
        assert _last_quarantine_id(db) > 0
        return
    parsed, quarantined = parse(payload)
    for message in parsed:
        check_message(message, platform)
    for item in quarantined:
        check_quarantined(item)
    # A payload quarantined before (the same body delivered again) is kept once: every one the
    # parser rejected is in the quarantine, new ones with their reason.
    assert len(reasons) <= len(quarantined)
    assert _quarantined_payloads(db) >= {storable_text(item.payload) for item in quarantined}
    ids = [m.external_id for m in parsed]
    assert _stored_ids(db, platform, ids) == set(ids)


@FUZZ
@given(body=json_bodies(mutated(FB_WEBHOOKS)))
def test_facebook_webhook_bodies(db: Engine, webhooks: TestClient, body: bytes) -> None:
    _receive(
        db,
        lambda: webhooks.post("/webhooks/facebook", content=body, headers=_signed(body)),
        body,
        lambda payload: parse_webhook(payload, PAGE_ID),
        Platform.FACEBOOK,
    )


def test_an_unsigned_or_missigned_body_is_refused_and_stores_nothing(
    db: Engine, webhooks: TestClient
) -> None:
    body = json.dumps(FB_WEBHOOKS[0]).encode()
    before = (_count(db, t.messages), _count(db, t.quarantine))
    for headers in ({}, {"X-Hub-Signature-256": "sha256=" + "0" * 64}, _signed(body + b" ")):
        assert webhooks.post("/webhooks/facebook", content=body, headers=headers).status_code == 403
    assert webhooks.post("/webhooks/telegram", content=body).status_code == 403
    assert (_count(db, t.messages), _count(db, t.quarantine)) == before


# --- Telegram ---------------------------------------------------------------------------


def _tg_parse(payload: Any) -> tuple[list[IncomingMessage], list[QuarantinedPayload]]:
    result: Any = parse_update(payload, BOT_USERNAME, source="telegram:webhook:4242")
    if result is None:
        result = parse_callback_query(payload, source="telegram:webhook:4242")
    if isinstance(result, IncomingMessage):
        return [result], []
    if isinstance(result, QuarantinedPayload):
        return [], [result]
    assert result is None or isinstance(result, CallbackPress)
    return [], []


@FUZZ
@given(body=json_bodies(mutated(TG_UPDATES)))
def test_telegram_webhook_bodies(db: Engine, webhooks: TestClient, body: bytes) -> None:
    headers = {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET, "Content-Type": "application/json"}
    _receive(
        db,
        lambda: webhooks.post("/webhooks/telegram", content=body, headers=headers),
        body,
        _tg_parse,
        Platform.TELEGRAM,
    )


@pytest.fixture(scope="module")
def tg_client() -> Iterator[TelegramClient]:
    """A real Telegram client whose Bot API call answers with the example's getUpdates result."""
    client = TelegramClient(BOT_TOKEN, base_url="http://telegram.fuzz.invalid/bot")
    yield client
    client.close()


@FUZZ
@given(
    result=st.one_of(st.lists(mutated(TG_UPDATES), max_size=6), mutated([TG_UPDATES])),
    cursor=st.sampled_from([None, "5", "12"]),
)
def test_telegram_get_updates_results(
    db: Engine, tg_client: TelegramClient, result: Any, cursor: str | None
) -> None:
    setattr(tg_client, "_call", lambda operation, request, **kwargs: result)
    listener = TelegramUpdatesListener(tg_client, BOT_USERNAME)
    try:
        fetched = listener.fetch(cursor)
    except PlatformError as exc:
        check_error(exc)
        assert not isinstance(result, list)
        return
    for message in fetched.messages:
        check_message(message, Platform.TELEGRAM)
    for item in fetched.quarantined:
        check_quarantined(item)
    unreadable = [u for u in result if not isinstance(u, dict) or type(u.get("update_id")) is not int]
    assert len(fetched.quarantined) >= len(unreadable)
    assert fetched.cursor is None or _fits(t.cursors.c.cursor, fetched.cursor)
    _store(db, listener.key, fetched)


# --- regressions: what the fuzzing found, kept as fixtures --------------------------------


def _assert_outcome(case: dict[str, Any], messages: list[IncomingMessage], reasons: list[str]) -> None:
    assert sorted(m.external_id for m in messages) == sorted(case["messages"])
    assert len(reasons) == len(case["reasons"])
    for expected in case["reasons"]:
        assert any(expected in reason for reason in reasons), (expected, reasons)
    if "text" in case:
        assert [m.text for m in messages] == [case["text"]]


def _stored_text(db: Engine, platform: Platform, external_id: str) -> str:
    with db.connect() as conn:
        return str(
            conn.execute(
                select(t.messages.c.text).where(
                    t.messages.c.platform == platform.value, t.messages.c.external_id == external_id
                )
            ).scalar_one()
        )


@pytest.mark.parametrize("case", _load("x/fuzz_regressions.json")["cases"], ids=lambda c: c["name"])
def test_x_regressions(db: Engine, case: dict[str, Any]) -> None:
    adapter = CannedAdapter(b'{"meta": {"result_count": 0}}')
    client = make_x_client("http://x.fuzz.invalid", "bearer", "ck", "cs", "1000-at", "ats")
    client.session.mount("http://x.fuzz.invalid/", adapter)
    adapter.load({"/mentions": [json.dumps(case["page"]).encode()]})
    listener = XMentionsListener(client, "1000")
    result = listener.fetch(None)
    _assert_outcome(case, result.messages, [q.reason for q in result.quarantined])
    for message in result.messages:
        check_message(message, Platform.X)
    _store(db, listener.key, result)
    for message in result.messages:
        assert _stored_text(db, Platform.X, message.external_id) == message.text


FB_REGRESSIONS = _load("facebook/fuzz_regressions.json")


@pytest.mark.parametrize("case", FB_REGRESSIONS["webhooks"], ids=lambda c: c["name"])
def test_facebook_webhook_regressions(db: Engine, webhooks: TestClient, case: dict[str, Any]) -> None:
    body = case["raw_body"].encode() if "raw_body" in case else json.dumps(case["body"]).encode()
    before = _last_quarantine_id(db)
    assert webhooks.post("/webhooks/facebook", content=body, headers=_signed(body)).status_code == 200
    reasons = _new_reasons(db, before)
    parsed = parse_webhook(case["body"], PAGE_ID)[0] if "body" in case else []
    _assert_outcome(case, parsed, reasons)
    assert _stored_ids(db, Platform.FACEBOOK, case["messages"]) == set(case["messages"])
    if "text" in case:
        assert _stored_text(db, Platform.FACEBOOK, case["messages"][0]) == case["text"]


@pytest.mark.parametrize("case", FB_REGRESSIONS["graph"], ids=lambda c: c["name"])
def test_facebook_graph_regressions(db: Engine, case: dict[str, Any]) -> None:
    adapter = CannedAdapter(b'{"data": []}')
    graph = GraphClient("page-token", graph_url="http://graph.fuzz.invalid", clock=FrozenClock(NOW))
    graph.session.mount("http://graph.fuzz.invalid/", adapter)
    posts = {"data": [{"id": "1000_100000000000001", "updated_time": "2026-01-05T09:00:00+0000"}]}
    adapter.load(
        {"/posts": [json.dumps(posts).encode()], "/comments": [json.dumps(case["comments"]).encode()]}
    )
    listener = FacebookCommentsListener(graph, PAGE_ID, clock=graph.clock)
    result = listener.fetch(None)
    _assert_outcome(case, result.messages, [q.reason for q in result.quarantined])
    _store(db, listener.key, result)


@pytest.mark.parametrize("case", _load("telegram/fuzz_regressions.json")["cases"], ids=lambda c: c["name"])
def test_telegram_regressions(
    db: Engine, webhooks: TestClient, tg_client: TelegramClient, case: dict[str, Any]
) -> None:
    setattr(tg_client, "_call", lambda operation, request, **kwargs: case["updates"])
    listener = TelegramUpdatesListener(tg_client, BOT_USERNAME)
    fetched = listener.fetch(None)
    _assert_outcome(case, fetched.messages, [q.reason for q in fetched.quarantined])
    assert len(fetched.presses) == case.get("presses", 0)
    _store(db, listener.key, fetched)
    before = _last_quarantine_id(db)
    headers = {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
    for update in case["updates"]:
        body = json.dumps(update).encode()  # ASCII escapes, as Telegram sends them
        assert webhooks.post("/webhooks/telegram", content=body, headers=headers).status_code == 200
    assert len(_new_reasons(db, before)) == len(case["reasons"])
    if "text" in case:
        assert _stored_text(db, Platform.TELEGRAM, case["messages"][0]) == case["text"]


@pytest.mark.postgres
def test_every_regression_stores_on_postgresql(postgres_schema_url: str, tg_client: TelegramClient) -> None:
    """PostgreSQL refuses what SQLite takes (NULs in text, values longer than their column)."""
    pg = make_engine(postgres_schema_url)
    upgrade(pg)
    try:
        app = create_app(
            pg,
            FrozenClock(NOW),
            facebook=FacebookWebhook(page_id=PAGE_ID, app_secret=APP_SECRET, verify_token="fuzz-verify"),
            telegram=TelegramWebhook(bot_id="4242", bot_username=BOT_USERNAME, secret=TG_SECRET),
        )
        with TestClient(app) as client:
            for case in FB_REGRESSIONS["webhooks"]:
                body = case["raw_body"].encode() if "raw_body" in case else json.dumps(case["body"]).encode()
                assert (
                    client.post("/webhooks/facebook", content=body, headers=_signed(body)).status_code == 200
                )
            headers = {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
            for tg_case in _load("telegram/fuzz_regressions.json")["cases"]:
                for update in tg_case["updates"]:
                    body = json.dumps(update).encode()
                    assert client.post("/webhooks/telegram", content=body, headers=headers).status_code == 200
        adapter = CannedAdapter(b'{"meta": {"result_count": 0}}')
        x_client = make_x_client("http://x.fuzz.invalid", "bearer", "ck", "cs", "1000-at", "ats")
        x_client.session.mount("http://x.fuzz.invalid/", adapter)
        for x_case in _load("x/fuzz_regressions.json")["cases"]:
            adapter.load({"/mentions": [json.dumps(x_case["page"]).encode()]})
            listener = XMentionsListener(x_client, "1000")
            _store(pg, listener.key, listener.fetch(None))
        cases = [
            *FB_REGRESSIONS["webhooks"],
            *_load("telegram/fuzz_regressions.json")["cases"],
            *_load("x/fuzz_regressions.json")["cases"],
        ]
        assert _count(pg, t.messages) == sum(len(case["messages"]) for case in cases)
        assert _count(pg, t.quarantine) == sum(len(case["reasons"]) for case in cases)
    finally:
        pg.dispose()
