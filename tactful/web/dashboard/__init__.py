"""The review dashboard: server-rendered pages for agents, managers and admins (FastAPI + Jinja2).

`install_dashboard` adds it to the tactful application; `dashboard_config` builds its
configuration from settings and refuses to run without a session secret.
"""

from __future__ import annotations

from tactful.web.dashboard.config import DashboardConfig, dashboard_config
from tactful.web.dashboard.site import install_dashboard

__all__ = ["DashboardConfig", "dashboard_config", "install_dashboard"]
