"""The ASGI application tactful serves, and a uvicorn server that runs it beside the scheduler."""

from __future__ import annotations

import logging
import threading
import time

import uvicorn
from fastapi import FastAPI
from sqlalchemy import Engine

from tactful.clock import Clock
from tactful.web.dashboard import DashboardConfig, install_dashboard
from tactful.web.webhooks import FacebookWebhook, TelegramWebhook, webhook_router

log = logging.getLogger(__name__)


def create_app(
    db: Engine,
    clock: Clock,
    facebook: FacebookWebhook | None = None,
    telegram: TelegramWebhook | None = None,
    dashboard: DashboardConfig | None = None,
) -> FastAPI:
    """Build the application: webhooks for the platforms that use them, the dashboard if configured, a health check."""
    app = FastAPI(title="tactful", docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(webhook_router(db, clock, facebook, telegram))
    if dashboard is not None:
        install_dashboard(app, db, clock, dashboard)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        """Tell load balancers and tests that the server is up."""
        return {"status": "ok"}

    return app


class WebServer:
    """Runs an ASGI app with uvicorn in a background thread (the scheduler owns the main thread)."""

    def __init__(self, app: FastAPI, host: str, port: int) -> None:
        self._server = uvicorn.Server(
            uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, lifespan="off")
        )
        self._thread = threading.Thread(target=self._server.run, name="tactful-web", daemon=True)

    def start(self, timeout: float = 10.0) -> None:
        """Start serving and wait until the socket is bound."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the web server failed to start (is the port already in use?)")
            if time.monotonic() > deadline:
                raise RuntimeError("the web server did not start in time")
            time.sleep(0.01)

    @property
    def port(self) -> int:
        """The port actually bound (useful with port 0)."""
        servers = self._server.servers
        if not servers or not servers[0].sockets:
            raise RuntimeError("the web server is not running")
        return int(servers[0].sockets[0].getsockname()[1])

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        self._server.should_exit = True
        self._thread.join(timeout=10)
