"""Logging in and out: the login form (CSRF-protected, rate limited per name and per client) and logout.

No ``from __future__ import annotations`` here: FastAPI reads the routes' annotations, which name
dependencies local to `auth_router`.
"""

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from storage.users import authenticate
from tactful.web.dashboard.auth import safe_next
from tactful.web.dashboard.csrf import tokens_match
from tactful.web.dashboard.forms import read_form
from tactful.web.dashboard.sessions import new_nonce
from tactful.web.dashboard.site import Dashboard, Posted

log = logging.getLogger(__name__)


def client_address(request: Request) -> str:
    """The client's address as the server saw it (forwarded headers are not trusted)."""
    return request.client.host if request.client is not None else "unknown"


def auth_router(dash: Dashboard) -> APIRouter:
    """Build the login and logout routes, and the root redirect."""
    router = APIRouter()

    def login_page(
        request: Request,
        next_path: str,
        status: int = 200,
        error: str | None = None,
        name: str = "",
        retry_after: int | None = None,
    ) -> Response:
        nonce = dash.sessions.login_nonce(request) or new_nonce()
        response = dash.page(
            "login.html",
            None,
            status=status,
            next_path=next_path,
            login_csrf=dash.sessions.login_csrf_token(nonce),
            error=error,
            name=name,
        )
        if retry_after is not None:
            response.headers["Retry-After"] = str(retry_after)
        dash.sessions.set_login_nonce(response, nonce)
        return response

    @router.get("/")
    def root() -> Response:
        """Send people to the queue."""
        return RedirectResponse("/queue", status_code=303)

    @router.get("/login")
    def login_form(request: Request, next_path: Annotated[str, Query(alias="next")] = "") -> Response:
        """Show the login form (or go on if already logged in)."""
        target = safe_next(next_path)
        if dash.current_viewer(request) is not None:
            return RedirectResponse(target, status_code=303)
        return login_page(request, target)

    @router.post("/login")
    async def login(request: Request) -> Response:
        """Check the name and password; on success start a session and go to `next`."""
        form = await read_form(request)
        target = safe_next(form.get("next"))
        nonce = dash.sessions.login_nonce(request)
        if nonce is None or not tokens_match(dash.sessions.login_csrf_token(nonce), form.get("csrf_token")):
            return login_page(request, target, status=403, error="The login form expired. Please try again.")
        name, password = form.get("name").strip(), form.get("password")
        client = client_address(request)
        wait = dash.limiter.retry_after(name, client)
        if wait is not None:
            minutes = max(1, round(wait / 60))
            return login_page(
                request,
                target,
                status=429,
                error=f"Too many failed logins. Try again in about {minutes} minute{'s' if minutes > 1 else ''}.",
                name=name,
                retry_after=wait,
            )
        user = await run_in_threadpool(authenticate, dash.db, name, password)
        if user is None:
            dash.limiter.failed(name, client)
            log.warning("failed dashboard login from %s", client)
            return login_page(request, target, error="Wrong name or password.", name=name)
        dash.limiter.succeeded(name)
        token = await run_in_threadpool(dash.sessions.start, user, client)
        response = RedirectResponse(target, status_code=303)
        dash.sessions.set_cookie(response, token)
        dash.sessions.clear_login_nonce(response)
        return response

    @router.post("/logout")
    def logout(posted: Annotated[Posted, Depends(dash.posted)]) -> Response:
        """End the session and go back to the login page."""
        dash.sessions.end(posted.viewer.token, posted.viewer.user)
        response = RedirectResponse("/login", status_code=303)
        dash.sessions.clear_cookie(response)
        return response

    return router
