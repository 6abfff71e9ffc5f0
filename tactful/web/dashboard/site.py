"""The dashboard as a whole: its shared state, the request dependencies (viewer, CSRF-checked form) and mounting."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, RedirectResponse, Response
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.staticfiles import StaticFiles

from tactful.clock import Clock
from tactful.roles import Role
from tactful.web.dashboard.auth import (
    DEFAULT_NEXT,
    CsrfRejected,
    Forbidden,
    LoginLimiter,
    LoginRequired,
    Viewer,
    require_role,
    safe_next,
)
from tactful.web.dashboard.config import DashboardConfig
from tactful.web.dashboard.csrf import tokens_match
from tactful.web.dashboard.forms import BadForm, Form, FormTooLarge, read_form
from tactful.web.dashboard.security import SecurityHeaders
from tactful.web.dashboard.sessions import SessionManager
from tactful.web.dashboard.views import STATIC_DIR, Views


@dataclass(frozen=True, slots=True)
class Posted:
    """A POST whose session and CSRF token were checked: who sent it and the form."""

    viewer: Viewer
    form: Form


class Dashboard:
    """What every dashboard route shares: database, clock, configuration, sessions, limiter, templates."""

    def __init__(self, db: Engine, clock: Clock, config: DashboardConfig) -> None:
        self.db = db
        self.clock = clock
        self.config = config
        self.sessions = SessionManager(
            db, clock, config.session_secret, config.session_lifetime, config.secure_cookies
        )
        self.limiter = LoginLimiter(clock, config.login_max_failures, config.login_window)
        self.views = Views()

    # --- who is asking -------------------------------------------------------------------------

    def current_viewer(self, request: Request) -> Viewer | None:
        """The logged-in viewer of a request, or None (no, malformed, expired or revoked session)."""
        token = self.sessions.token(request)
        if token is None:
            return None
        session = self.sessions.find(token)
        if session is None:
            return None
        viewer = Viewer(user=session.user, token=token, csrf=self.sessions.csrf_token(token))
        request.state.viewer = viewer
        return viewer

    def viewer(self, request: Request) -> Viewer:
        """Dependency: the logged-in viewer; without one the browser goes to the login page."""
        viewer = self.current_viewer(request)
        if viewer is None:
            path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise LoginRequired(path)
        return viewer

    def api_viewer(self, request: Request) -> Viewer:
        """Dependency for script requests: the logged-in viewer, or 401."""
        viewer = self.current_viewer(request)
        if viewer is None:
            raise LoginRequired(DEFAULT_NEXT, api=True)
        return viewer

    def manager(self, request: Request) -> Viewer:
        """Dependency: a logged-in manager or admin (403 for agents)."""
        return require_role(self.viewer(request), Role.MANAGER)

    def admin(self, request: Request) -> Viewer:
        """Dependency: a logged-in admin (403 for others)."""
        return require_role(self.viewer(request), Role.ADMIN)

    async def posted(self, request: Request) -> Posted:
        """Dependency for every POST but the login: a logged-in viewer and a form with their CSRF token."""
        form = await read_form(request)
        viewer = await run_in_threadpool(self.current_viewer, request)
        if viewer is None:
            parent = request.url.path.rsplit("/", 1)[0]
            raise LoginRequired(parent if parent.startswith("/queue/") else DEFAULT_NEXT)
        if not tokens_match(viewer.csrf, form.get("csrf_token")):
            raise CsrfRejected()
        return Posted(viewer, form)

    # --- pages ---------------------------------------------------------------------------------

    def page(self, template: str, viewer: Viewer | None, status: int = 200, **context: Any) -> Response:
        """Render a page with what the layout needs (viewer, CSRF token, roles, now)."""
        return self.views.render(
            template,
            status=status,
            viewer=viewer,
            csrf=viewer.csrf if viewer is not None else "",
            Role=Role,
            now=self.clock.now(),
            **context,
        )

    def error(self, request: Request, status: int, message: str) -> Response:
        """An error page (the viewer, if known, keeps the navigation)."""
        viewer = getattr(request.state, "viewer", None)
        return self.page("error.html", viewer, status=status, status_code=status, message=message)


def install_dashboard(app: FastAPI, db: Engine, clock: Clock, config: DashboardConfig) -> Dashboard:
    """Add the dashboard to an application: pages, static files, error handling and security headers."""
    from tactful.web.dashboard.routes_auth import auth_router
    from tactful.web.dashboard.routes_manage import manage_router
    from tactful.web.dashboard.routes_policy import policy_router
    from tactful.web.dashboard.routes_queue import queue_router
    from tactful.web.dashboard.routes_stats import stats_router

    dash = Dashboard(db, clock, config)
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(auth_router(dash))
    app.include_router(queue_router(dash))
    app.include_router(manage_router(dash))
    app.include_router(policy_router(dash))
    app.include_router(stats_router(dash))

    async def login_required(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LoginRequired)
        if exc.api:
            return PlainTextResponse("login required", status_code=401)
        return RedirectResponse(f"/login?next={quote(safe_next(exc.next_path), safe='')}", status_code=303)

    async def forbidden(request: Request, exc: Exception) -> Response:
        return dash.error(request, 403, str(exc) or "You may not do this.")

    async def csrf_rejected(request: Request, exc: Exception) -> Response:
        return dash.error(
            request,
            403,
            "This form is out of date or did not come from this site. Reload the page and try again.",
        )

    async def too_large(request: Request, exc: Exception) -> Response:
        return PlainTextResponse("form too large", status_code=413)

    async def bad_form(request: Request, exc: Exception) -> Response:
        return PlainTextResponse("not a form", status_code=400)

    app.add_exception_handler(LoginRequired, login_required)
    app.add_exception_handler(Forbidden, forbidden)
    app.add_exception_handler(CsrfRejected, csrf_rejected)
    app.add_exception_handler(FormTooLarge, too_large)
    app.add_exception_handler(BadForm, bad_form)
    return dash
