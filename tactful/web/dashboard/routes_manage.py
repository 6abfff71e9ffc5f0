"""Pages for managers (the policy in force, a 7-day report) and admins (users: list, add, role, disable).

No ``from __future__ import annotations`` here: FastAPI reads the routes' annotations, which name
dependencies local to `manage_router`.
"""

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import RedirectResponse, Response

from moderation.verdict import Category
from storage.queue_views import report
from storage.users import UserError, add_user, list_users, set_disabled, set_role
from tactful.roles import ROLE_NAMES, Role
from tactful.web.dashboard.auth import Viewer, require_role
from tactful.web.dashboard.routes_policy import policy_status
from tactful.web.dashboard.site import Dashboard, Posted

REPORT_DAYS = 7
USERS_DONE = {
    "added": "User added.",
    "role": "Role changed.",
    "disabled": "User disabled; their sessions have ended.",
    "enabled": "User enabled.",
}


def _compact(value: Any) -> str:
    """A condition or action value as short text (lists joined, the rest as JSON)."""
    if isinstance(value, list | tuple):
        return ", ".join(_compact(v) for v in value)
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def policy_context(dash: Dashboard) -> dict[str, Any]:
    """What the policy page shows: version, source, brand, rules in order, safety limits."""
    if dash.config.policy is None:
        return {"policy": None}
    active = dash.config.policy()
    policy = active.loaded.policy
    rules = []
    for rule in policy.rules:
        when = rule.when.model_dump(mode="json", exclude_none=True)
        then = [action.model_dump(mode="json", exclude_none=True) for action in rule.then]
        rules.append(
            {
                "id": rule.id,
                "description": rule.description,
                "when": [(key, _compact(value)) for key, value in when.items()],
                "then": [(key, _compact(value)) for action in then for key, value in action.items()],
            }
        )
    return {
        "policy": {
            "version": active.version,
            "source": active.source,
            "brand": policy.brand.name,
            "default_language": policy.default_language,
            "rules": rules,
            "safety": [
                (key, _compact(value)) for key, value in policy.safety.model_dump(mode="json").items()
            ],
        }
    }


def _columns(found: set[str], usual: list[str]) -> list[str]:
    return usual + sorted(found - set(usual))


def manage_router(dash: Dashboard) -> APIRouter:
    """Build the manager and admin routes."""
    router = APIRouter()
    db = dash.db
    Manager = Annotated[Viewer, Depends(dash.manager)]
    Admin = Annotated[Viewer, Depends(dash.admin)]
    Post = Annotated[Posted, Depends(dash.posted)]

    @router.get("/policy")
    def policy_page(viewer: Manager) -> Response:
        """The policy in force (rules in order, safety limits), recorded versions, the files' check, replays."""
        return dash.page("policy.html", viewer, **policy_context(dash), **policy_status(dash))

    @router.get("/report")
    def report_page(viewer: Manager) -> Response:
        """Counts of the last 7 days by platform: messages by category, review items and sends by status."""
        since = dash.clock.now() - timedelta(days=REPORT_DAYS)
        with db.connect() as conn:
            figures = report(conn, since)
        categories = _columns(
            {c for _, c in figures.messages_by_category}, [c.value for c in Category] + ["unprocessed"]
        )
        item_statuses = _columns({s for _, s in figures.items_by_status}, ["open", "claimed", "resolved"])
        send_statuses = _columns(
            {s for _, s in figures.outbox_by_status}, ["pending", "sending", "sent", "failed"]
        )
        return dash.page(
            "report.html",
            viewer,
            days=REPORT_DAYS,
            figures=figures,
            tables=[
                ("Messages received, by category", figures.messages_by_category, categories),
                ("Review items opened, by status now", figures.items_by_status, item_statuses),
                ("Automated and human sends, by status", figures.outbox_by_status, send_statuses),
            ],
        )

    def users_page(
        viewer: Viewer,
        status: int = 200,
        error: str | None = None,
        notice: str | None = None,
        draft: dict[str, str] | None = None,
    ) -> Response:
        with db.connect() as conn:
            users = list_users(conn)
        return dash.page(
            "users.html",
            viewer,
            status=status,
            users=users,
            roles=ROLE_NAMES,
            error=error,
            notice=notice,
            draft=draft or {},
        )

    @router.get("/admin/users")
    def users_list(viewer: Admin, done: str = "") -> Response:
        """Every user with their role and state, and the forms to change them."""
        return users_page(viewer, notice=USERS_DONE.get(done))

    def change(
        posted: Post, action: Callable[[Viewer, datetime], str], draft: dict[str, str] | None = None
    ) -> Response:
        viewer = require_role(posted.viewer, Role.ADMIN)
        try:
            done = action(viewer, dash.clock.now())
        except (UserError, ValueError) as exc:
            return users_page(
                viewer, status=409 if isinstance(exc, UserError) else 400, error=str(exc), draft=draft
            )
        return RedirectResponse(f"/admin/users?done={done}", status_code=303)

    @router.post("/admin/users/add")
    def users_add(posted: Post) -> Response:
        """Create a user (password typed twice, at least 10 characters)."""
        form = posted.form

        def run(v: Viewer, now: datetime) -> str:
            if form.get("password") != form.get("password2"):
                raise ValueError("the two passwords differ")
            add_user(db, form.get("name"), form.get("role"), form.get("password"), v.name, now)
            return "added"

        return change(posted, run, draft={"name": form.get("name"), "role": form.get("role")})

    @router.post("/admin/users/role")
    def users_role(posted: Post) -> Response:
        """Give a user another role."""

        def run(v: Viewer, now: datetime) -> str:
            set_role(db, posted.form.get("name"), posted.form.get("role"), v.name, now)
            return "role"

        return change(posted, run)

    @router.post("/admin/users/disable")
    def users_disable(posted: Post) -> Response:
        """Disable a user; their sessions end at once."""

        def run(v: Viewer, now: datetime) -> str:
            set_disabled(db, posted.form.get("name"), True, v.name, now)
            return "disabled"

        return change(posted, run)

    @router.post("/admin/users/enable")
    def users_enable(posted: Post) -> Response:
        """Let a disabled user log in again."""

        def run(v: Viewer, now: datetime) -> str:
            set_disabled(db, posted.form.get("name"), False, v.name, now)
            return "enabled"

        return change(posted, run)

    return router
