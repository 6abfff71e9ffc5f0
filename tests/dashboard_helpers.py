"""Helpers for dashboard tests: a cheap password hasher, an app with a test client, logging in, CSRF tokens."""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from typing import Any

from argon2 import PasswordHasher
from sqlalchemy import Engine

from storage.users import add_user
from tactful.clock import FrozenClock
from tactful.policy_source import PolicySource
from tactful.web.app import create_app
from tactful.web.dashboard import DashboardConfig

with warnings.catch_warnings():  # starlette asks for httpx2; the installed httpx works the same here
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

SECRET = "test-only-session-secret-0123456789abcdef"
PASSWORD = "correct horse battery"
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
_CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')
_REQUEST_KEY = re.compile(r'name="request_key" value="([^"]*)"')

_policy: PolicySource | None = None


def default_policy() -> PolicySource:
    """The shipped policy, loaded once."""
    global _policy
    if _policy is None:
        _policy = PolicySource(None)
    return _policy


def make_client(
    db: Engine,
    clock: FrozenClock,
    private_routes: Mapping[str, Any] | None = None,
    base_url: str = "http://testserver",
    **config: Any,
) -> TestClient:
    """A test client of the application with the dashboard mounted (plain-HTTP cookies)."""
    config.setdefault("secure_cookies", False)
    dashboard = DashboardConfig(
        session_secret=SECRET,
        policy=default_policy().current,
        private_routes=dict(private_routes or {}),
        **config,
    )
    return TestClient(create_app(db, clock, dashboard=dashboard), base_url=base_url)


def add(db: Engine, clock: FrozenClock, name: str, role: str = "agent") -> None:
    """Add a user with the test password."""
    add_user(db, name, role, PASSWORD, "test", clock.now())


def csrf(html: str) -> str:
    """The CSRF token of the first form on a page."""
    found = _CSRF.search(html)
    assert found is not None, "no CSRF token on the page"
    return found.group(1)


def request_key(html: str) -> str:
    """The request key of the first form that has one."""
    found = _REQUEST_KEY.search(html)
    assert found is not None, "no request key on the page"
    return found.group(1)


def login(client: TestClient, name: str, password: str = PASSWORD, next_path: str = "") -> Any:
    """Fetch the login form and post it; return the POST's response (not followed)."""
    form = client.get("/login")
    assert form.status_code == 200
    return client.post(
        "/login",
        data={"name": name, "password": password, "csrf_token": csrf(form.text), "next": next_path},
        follow_redirects=False,
    )


def logged_in(db: Engine, clock: FrozenClock, name: str, role: str = "agent", **kwargs: Any) -> TestClient:
    """A client logged in as a new user `name` with `role`."""
    add(db, clock, name, role)
    client = make_client(db, clock, **kwargs)
    response = login(client, name)
    assert response.status_code == 303, response.text
    return client


def post_form(client: TestClient, page: str, action: str, **fields: str) -> Any:
    """Post a form of `page` (its CSRF token included) to `action`; return the response (not followed)."""
    html = client.get(page).text
    return client.post(action, data={"csrf_token": csrf(html), **fields}, follow_redirects=False)
