"""The managers' policy page: the version in force, a rejected change, the history, the check, replays.

No ``from __future__ import annotations`` here: FastAPI reads the routes' annotations, which name
dependencies local to `policy_router`.
"""

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from policies.issues import PolicyError, PolicyIssue, sort_issues
from storage.policy_versions import PolicyVersionRow, latest_rejection, list_versions, version_in_force
from storage.replays import ReplayRecord, get_replay, recent_replays
from tactful.replay_report import LIST_TITLES, LISTS, action_line
from tactful.web.dashboard.auth import Viewer
from tactful.web.dashboard.site import Dashboard

RECENT_REPLAYS = 20
RECENT_VERSIONS = 20
SHOWN_ISSUES = 50


def check_files(paths: tuple[Path, ...]) -> dict[str, Any]:
    """Check the policy files as `tactful policy check` does, now: errors, warnings and their lines."""
    from policies.lint import lint
    from policies.loader import load_policies

    files = [str(path) for path in paths]
    issues: list[PolicyIssue]
    version = None
    try:
        loaded = load_policies(paths, examples=True)
        issues = lint(loaded)
        version = loaded.version
    except PolicyError as exc:
        issues = exc.issues
    issues = sort_issues(issues, files)
    errors = sum(issue.severity == "error" for issue in issues)
    return {
        "files": files,
        "ok": errors == 0,
        "version": version,
        "errors": errors,
        "warnings": len(issues) - errors,
        "lines": [issue.describe() for issue in issues[:SHOWN_ISSUES]],
        "more": max(0, len(issues) - SHOWN_ISSUES),
    }


def replay_row(record: ReplayRecord) -> dict[str, Any]:
    """One stored replay as a row of the recent-replays table."""
    summary = record.summary
    return {
        "id": record.id,
        "created_at": record.created_at,
        "actor": record.actor,
        "version": record.policy_version,
        "source": record.source,
        "since": record.since,
        "messages": summary.get("messages", 0),
        "changed": summary.get("changed", {}).get("total", 0),
        "acks_started": summary.get("acks_started", {}).get("total", 0),
        "acks_stopped": summary.get("acks_stopped", {}).get("total", 0),
        "trolls_newly_hidden": summary.get("trolls_newly_hidden", {}).get("total", 0),
    }


def pending_rejection(
    in_force: PolicyVersionRow | None, rejection: PolicyVersionRow | None
) -> PolicyVersionRow | None:
    """The rejected change to show prominently: one newer than the version in force, else None."""
    if rejection is None:
        return None
    if in_force is None or in_force.activated_at is None:
        return rejection
    return rejection if rejection.loaded_at > in_force.activated_at else None


def policy_status(dash: Dashboard) -> dict[str, Any]:
    """What the policy page adds to the rules: version in force, newer rejection, history, check, replays."""
    with dash.db.connect() as conn:
        in_force = version_in_force(conn)
        rejection = pending_rejection(in_force, latest_rejection(conn))
        versions = list_versions(conn, RECENT_VERSIONS)
        replays = [replay_row(record) for record in recent_replays(conn, RECENT_REPLAYS)]
    check = None
    if dash.config.policy is not None:
        loaded = dash.config.policy().loaded
        check = check_files(loaded.paths or (loaded.path,))
    return {
        "in_force": in_force,
        "rejection": rejection,
        "versions": versions,
        "check": check,
        "replays": replays,
    }


def _entry_view(entry: dict[str, Any]) -> dict[str, Any]:
    """A listed message with its before and after as lines of text (full texts, escaped by the template)."""
    return {
        **entry,
        "sides": [
            (side, entry[side]["rule"], [action_line(a, width=None) for a in entry[side]["actions"]])
            for side in ("before", "after")
        ],
    }


def policy_router(dash: Dashboard) -> APIRouter:
    """Build the replay detail route (the policy page itself is in `routes_manage`)."""
    router = APIRouter()
    Manager = Annotated[Viewer, Depends(dash.manager)]

    @router.get("/policy/replays/{replay_id}")
    def replay_page(replay_id: int, request: Request, viewer: Manager) -> Response:
        """One stored replay: counts before and after, and the messages whose outcome changes."""
        with dash.db.connect() as conn:
            record = get_replay(conn, replay_id)
        if record is None:
            return dash.error(request, 404, f"There is no replay #{replay_id}.")
        summary = record.summary
        actions = [
            (kind, counts["before"], counts["after"], counts["after"] - counts["before"])
            for kind, counts in summary.get("actions", {}).items()
        ]
        rules = [
            (rule, counts["before"], counts["after"])
            for rule, counts in summary.get("rules", {}).items()
            if counts["before"] != counts["after"]
        ]
        lists = [
            (
                name,
                LIST_TITLES[name],
                summary.get(name, {}).get("total", 0),
                [_entry_view(entry) for entry in summary.get(name, {}).get("items", [])],
            )
            for name in LISTS
        ]
        return dash.page(
            "policy_replay.html",
            viewer,
            replay=replay_row(record),
            summary=summary,
            actions=actions,
            rules=rules,
            lists=lists,
        )

    return router
