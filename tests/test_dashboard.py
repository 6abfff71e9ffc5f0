"""The dashboard over HTTP: login and logout, rate limiting, redirects, CSRF, roles, escaping, headers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import Engine, func, select

from storage import tables as t
from storage.users import find_user
from tactful.clock import FrozenClock
from tactful.web.dashboard.auth import safe_next
from tactful.web.dashboard.views import make_environment
from tests.dashboard_helpers import (
    CHEAP_HASHER,
    PASSWORD,
    add,
    csrf,
    logged_in,
    login,
    make_client,
    post_form,
)
from tests.factories import make_message
from tests.queue_helpers import open_item, store

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("storage.users.HASHER", CHEAP_HASHER)


def sessions(db: Engine) -> int:
    with db.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(t.web_sessions)).scalar_one())


def test_login_sets_a_locked_down_cookie_and_logout_ends_the_session(db: Engine, clock: FrozenClock) -> None:
    add(db, clock, "alice")
    client = make_client(db, clock)
    response = login(client, "alice")
    assert response.status_code == 303 and response.headers["location"] == "/queue"
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("tactful_session="))
    assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower() and "Secure" not in cookie
    assert sessions(db) == 1
    token = client.cookies.get("tactful_session")

    page = client.get("/queue")
    assert page.status_code == 200 and "alice" in page.text

    out = client.post("/logout", data={"csrf_token": csrf(page.text)}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert sessions(db) == 0
    client.cookies.set("tactful_session", token or "")  # a copied cookie is worthless after logout
    assert client.get("/queue", follow_redirects=False).status_code == 303
    actions = [row.action for row in _audit(db)]
    assert actions == ["user.add", "auth.login", "auth.logout"]


def test_secure_cookies_use_the_host_prefix(db: Engine, clock: FrozenClock) -> None:
    add(db, clock, "alice")
    client = make_client(db, clock, secure_cookies=True, base_url="https://testserver")
    response = login(client, "alice")
    cookie = next(c for c in response.headers.get_list("set-cookie") if "tactful_session=" in c)
    assert cookie.startswith("__Host-tactful_session=") and "Secure" in cookie and "Path=/" in cookie
    assert client.get("/queue").status_code == 200


def test_a_wrong_password_is_refused_and_repeated_failures_are_rate_limited(
    db: Engine, clock: FrozenClock
) -> None:
    add(db, clock, "alice")
    client = make_client(db, clock)
    for _ in range(5):
        response = login(client, "alice", "wrong password!")
        assert response.status_code == 200 and "Wrong name or password" in response.text
    limited = login(client, "alice")  # even the right password waits now
    assert limited.status_code == 429
    assert 0 < int(limited.headers["retry-after"]) <= 15 * 60
    assert sessions(db) == 0

    clock.advance(timedelta(minutes=15, seconds=1))
    assert login(client, "alice").status_code == 303


def test_failures_from_one_client_are_limited_across_names(db: Engine, clock: FrozenClock) -> None:
    add(db, clock, "alice")
    client = make_client(db, clock)
    for n in range(5):
        assert login(client, f"guess{n}", "wrong password!").status_code == 200
    assert login(client, "alice").status_code == 429


def test_an_unknown_name_fails_like_a_wrong_password(db: Engine, clock: FrozenClock) -> None:
    client = make_client(db, clock)
    response = login(client, "nobody")
    assert response.status_code == 200 and "Wrong name or password" in response.text


def test_a_disabled_user_cannot_log_in(db: Engine, clock: FrozenClock) -> None:
    from storage.users import set_disabled

    add(db, clock, "alice")
    set_disabled(db, "alice", True, "test", clock.now())
    assert login(make_client(db, clock), "alice").status_code == 200


def test_the_login_form_needs_its_csrf_token(db: Engine, clock: FrozenClock) -> None:
    add(db, clock, "alice")
    client = make_client(db, clock)
    client.get("/login")
    response = client.post(
        "/login", data={"name": "alice", "password": PASSWORD, "csrf_token": "forged"}, follow_redirects=False
    )
    assert response.status_code == 403
    assert sessions(db) == 0


def test_pages_without_a_session_redirect_to_login_with_next(db: Engine, clock: FrozenClock) -> None:
    client = make_client(db, clock)
    for path in ("/queue", "/queue/7", "/policy", "/admin/users", "/queue?platform=x&status=all"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303
        location = urlsplit(response.headers["location"])
        assert location.path == "/login"
        assert parse_qs(location.query)["next"] == [path]
    assert client.get("/queue/live").status_code == 401  # the refresh script is told, not redirected


def test_login_goes_on_to_next_but_only_to_a_local_path(db: Engine, clock: FrozenClock) -> None:
    add(db, clock, "alice")
    for target, expected in (
        ("/queue/12?done=claimed", "/queue/12?done=claimed"),
        ("https://evil.example/", "/queue"),
        ("//evil.example/x", "/queue"),
        ("/\\evil.example", "/queue"),
        ("http:/evil.example", "/queue"),
        ("/login?next=https://evil.example", "/queue"),
        ("javascript:alert(1)", "/queue"),
    ):
        client = make_client(db, clock)
        response = login(client, "alice", next_path=target)
        assert response.status_code == 303
        assert response.headers["location"] == expected, target


@pytest.mark.parametrize(
    "value",
    ["", "queue", "//x.example", "/\\x", "https://x.example", "/a\r\nSet-Cookie: x=1", "/\tx", "/login"],
)
def test_safe_next_accepts_only_local_paths(value: str) -> None:
    assert safe_next(value) == "/queue"


def test_a_post_without_the_right_csrf_token_is_refused(db: Engine, clock: FrozenClock) -> None:
    client = logged_in(db, clock, "alice")
    ids = store(db, clock.now(), make_message("1", "where is my order?"))
    item = open_item(db, ids["1"], clock.now())
    for data in ({}, {"csrf_token": ""}, {"csrf_token": "not-the-token"}):
        response = client.post(f"/queue/{item}/claim", data=data, follow_redirects=False)
        assert response.status_code == 403
    other = logged_in(db, clock, "bob")  # another session's token is not this one's
    bob_token = csrf(other.get("/queue").text)
    assert client.post(f"/queue/{item}/claim", data={"csrf_token": bob_token}).status_code == 403
    assert client.post("/logout", data={}).status_code == 403
    with db.connect() as conn:
        assert conn.execute(select(t.review_items.c.status)).scalar_one() == "open"


def test_an_agent_may_not_open_manager_or_admin_pages(db: Engine, clock: FrozenClock) -> None:
    agent = logged_in(db, clock, "alice", "agent")
    for path in ("/policy", "/report", "/admin/users"):
        assert agent.get(path).status_code == 403
    page = agent.get("/queue").text
    assert "/policy" not in page and "/admin/users" not in page
    response = agent.post(
        "/admin/users/add",
        data={
            "csrf_token": csrf(page),
            "name": "mallory",
            "role": "admin",
            "password": PASSWORD,
            "password2": PASSWORD,
        },
    )
    assert response.status_code == 403
    with db.connect() as conn:
        assert find_user(conn, "mallory") is None


def test_a_manager_reads_the_policy_and_the_report_but_not_users(db: Engine, clock: FrozenClock) -> None:
    from tests.dashboard_helpers import default_policy

    manager = logged_in(db, clock, "maria", "manager")
    policy = manager.get("/policy")
    active = default_policy().current()
    assert policy.status_code == 200
    assert active.version in policy.text
    for rule in active.loaded.policy.rules:
        assert rule.id in policy.text
    store(db, clock.now(), make_message("1", "where is my order?"))
    report = manager.get("/report")
    assert report.status_code == 200 and "Last 7 days" in report.text
    assert manager.get("/admin/users").status_code == 403


def test_an_admin_manages_users_in_the_browser(db: Engine, clock: FrozenClock) -> None:
    admin = logged_in(db, clock, "root", "admin")
    added = post_form(
        admin,
        "/admin/users",
        "/admin/users/add",
        name="Bob",
        role="agent",
        password=PASSWORD,
        password2=PASSWORD,
    )
    assert added.status_code == 303
    bob = make_client(db, clock)
    assert login(bob, "bob").status_code == 303
    assert bob.get("/policy").status_code == 403

    assert (
        post_form(admin, "/admin/users", "/admin/users/role", name="bob", role="manager").status_code == 303
    )
    assert bob.get("/policy").status_code == 200  # the role is read at every request

    short = post_form(
        admin,
        "/admin/users",
        "/admin/users/add",
        name="eve",
        role="agent",
        password="short",
        password2="short",
    )
    assert short.status_code == 400 and "at least 10 characters" in short.text
    taken = post_form(
        admin,
        "/admin/users",
        "/admin/users/add",
        name="bob",
        role="agent",
        password=PASSWORD,
        password2=PASSWORD,
    )
    assert taken.status_code == 409

    assert post_form(admin, "/admin/users", "/admin/users/disable", name="bob").status_code == 303
    assert bob.get("/queue", follow_redirects=False).status_code == 303  # disabled: session gone
    last = post_form(admin, "/admin/users", "/admin/users/disable", name="root")
    assert last.status_code == 409 and "last enabled admin" in last.text
    listing = admin.get("/admin/users").text
    assert "bob" in listing and "disabled" in listing
    assert [row.action for row in _audit(db) if row.actor == "root"][-3:] == [
        "user.add",
        "user.role",
        "user.disable",
    ]


def test_user_content_is_escaped_everywhere(db: Engine, clock: FrozenClock) -> None:
    client = logged_in(db, clock, "alice")
    text = f"{SCRIPT} see https://evil.example/{IMG}\nsecond line {IMG}"
    ids = store(db, clock.now(), make_message("1", text, username=f"{SCRIPT}{IMG}"))
    item = open_item(db, ids["1"], clock.now())
    with db.begin() as conn:
        conn.execute(t.review_items.update().values(reason=f"reason {SCRIPT}"))
    pages = [client.get("/queue").text, client.get("/queue/live").text, client.get(f"/queue/{item}").text]
    for html in pages:
        assert SCRIPT not in html and IMG not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "&lt;img src=x onerror=alert(1)&gt;" in html
        assert 'href="https://evil.example' not in html  # links are shown as text, never made live


def test_templates_escape_by_default() -> None:
    env = make_environment()
    assert env.autoescape is True
    assert env.from_string("{{ x }}").render(x=SCRIPT) == "&lt;script&gt;alert(1)&lt;/script&gt;"


def test_every_response_carries_the_security_headers(db: Engine, clock: FrozenClock) -> None:
    client = logged_in(db, clock, "alice")
    for path in ("/login", "/queue", "/queue/live", "/static/dashboard.css", "/healthz"):
        headers = client.get(path).headers
        csp = headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "no-referrer"
    assert client.get("/queue").headers["cache-control"] == "no-store"


def test_pages_hold_no_inline_script(db: Engine, clock: FrozenClock) -> None:
    client = logged_in(db, clock, "alice", "admin")
    ids = store(db, clock.now(), make_message("1", "hello"))
    item = open_item(db, ids["1"], clock.now())
    for path in ("/login", "/queue", f"/queue/{item}", "/policy", "/report", "/admin/users"):
        html = client.get(path).text
        assert "<script>" not in html and " on" + "click=" not in html
    assert '<script src="/static/queue.js" defer></script>' in client.get("/queue").text
    assert client.get("/static/queue.js").status_code == 200


def _audit(db: Engine) -> list[Any]:
    a = t.audit_log
    with db.connect() as conn:
        return list(conn.execute(select(a.c.actor, a.c.action).order_by(a.c.id)))
