"""The queue and item pages, the live queue fragment, and every action on an item (POST forms).

No ``from __future__ import annotations`` here: FastAPI reads the routes' annotations, which name
dependencies local to `queue_router`.
"""

import secrets
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import Connection

from bots.base import PrivateRoute
from moderation.verdict import Category
from storage.promises import item_promises
from storage.queue_actions import (
    HIDE_PLATFORMS,
    QueueActionError,
    QueueConflict,
    ReviewItemNotFound,
    assign_item,
    claim_item,
    hide_message,
    label_item,
    move_item_private,
    release_item,
    reopen_item,
    reply_to_item,
    resolve_item,
)
from storage.queue_views import (
    NO_ASSIGNEE,
    STATUS_FILTERS,
    QueueFilter,
    ThreadMessage,
    item_detail,
    known_assignees,
    known_languages,
    list_items,
    queue_counters,
)
from storage.users import enabled_user_names
from tactful.domain import Author, Channel, IncomingMessage, Platform
from tactful.web.dashboard.auth import Viewer
from tactful.web.dashboard.site import Dashboard, Posted

#: The labels the item page offers (the CLI offers sentiment too).
ITEM_LABELS = ("troll", "not_troll", "complaint", "not_complaint")
FILTER_KEYS = ("platform", "category", "language", "status", "assignee")
DONE = {
    "claimed": "You claimed this item.",
    "released": "Released: the item is back in the queue.",
    "assigned": "Assigned.",
    "reply": "Reply queued; it goes out in a moment.",
    "reply-again": "This reply was already queued; it is sent once.",
    "private": "Private message queued; it goes out in a moment.",
    "private-again": "This private message was already queued; it is sent once.",
    "hide": "Hiding queued.",
    "hide-again": "This message is already being hidden.",
    "labelled": "Label saved.",
    "resolved": "Resolved.",
    "reopened": "Reopened.",
}


def read_filter(conn: Connection, params: Mapping[str, str]) -> QueueFilter:
    """Build a queue filter from the query string, each value checked against the known ones (ValueError)."""
    values = {key: (params.get(key) or "").strip() for key in FILTER_KEYS}
    choices: dict[str, Callable[[], list[str]]] = {
        "platform": lambda: [p.value for p in Platform],
        "category": lambda: [c.value for c in Category],
        "language": lambda: known_languages(conn),
        "status": lambda: list(STATUS_FILTERS),
        "assignee": lambda: [NO_ASSIGNEE, *known_assignees(conn)],
    }
    for key, value in values.items():
        if value and value not in choices[key]():
            raise ValueError(f"unknown {key} {value!r}")
    return QueueFilter(
        platform=values["platform"] or None,
        category=values["category"] or None,
        language=values["language"] or None,
        status=values["status"] or "waiting",
        assignee=values["assignee"] or None,
    )


def _message_id(value: str) -> int | None:
    if not value.strip():
        return None
    if not value.strip().isdigit():
        raise ValueError(f"not a message id: {value!r}")
    return int(value)


class ItemPages:
    """Renders an item's page and runs its actions for one dashboard."""

    def __init__(self, dash: Dashboard) -> None:
        self.dash = dash

    def route(self, message: IncomingMessage) -> PrivateRoute | None:
        """The private route of a message's platform, if it has one and offers it for this message."""
        router = self.dash.config.private_routes.get(message.platform.value)
        return router(message) if router is not None else None

    def private_possible(self, message: ThreadMessage | None) -> bool:
        """Whether "move to private" can be offered for this message."""
        if message is None or message.is_private:
            return False
        platform = Platform(message.platform)
        probe = IncomingMessage(
            platform=platform,
            channel=Channel(message.channel),
            external_id=message.external_id,
            thread_external_id=message.thread_external_id,
            author=Author(platform=platform, external_id=message.author_external_id),
            text=message.text,
            created_at=message.created_at,
            is_private=message.is_private,
        )
        return self.route(probe) is not None

    def render(
        self,
        viewer: Viewer,
        item_id: int,
        status: int = 200,
        error: str | None = None,
        notice: str | None = None,
        draft: Mapping[str, str] | None = None,
    ) -> Response:
        """The item page: conversation, author history, audit trail and the action forms."""
        with self.dash.db.connect() as conn:
            item = item_detail(conn, item_id)
            users = enabled_user_names(conn)
        if item is None:
            return self.dash.page(
                "error.html",
                viewer,
                status=404,
                status_code=404,
                message=f"There is no review item #{item_id}.",
            )
        target = item.latest_customer_message
        held_by_other = item.status == "claimed" and item.assignee != viewer.name
        return self.dash.page(
            "item.html",
            viewer,
            status=status,
            item=item,
            target=target,
            private_possible=self.private_possible(target),
            hideable=lambda m: m.platform in HIDE_PLATFORMS and not m.is_private and not m.from_brand,
            may_act=not held_by_other or viewer.overrides_claims,
            held_by_other=held_by_other,
            users=users,
            labels=ITEM_LABELS,
            reply_key=secrets.token_urlsafe(18),
            private_key=secrets.token_urlsafe(18),
            error=error,
            notice=notice,
            draft=dict(draft or {}),
        )

    def act(
        self,
        posted: Posted,
        item_id: int,
        action: Callable[[Viewer, datetime], str],
        draft: Mapping[str, str] | None = None,
    ) -> Response:
        """Run an action; go back to the item with a notice, or show the page again with the reason."""
        viewer = posted.viewer
        try:
            done = action(viewer, self.dash.clock.now())
        except ReviewItemNotFound as exc:
            return self.dash.page("error.html", viewer, status=404, status_code=404, message=str(exc))
        except QueueConflict as exc:
            return self.render(viewer, item_id, status=409, error=str(exc), draft=draft)
        except (QueueActionError, ValueError) as exc:
            return self.render(viewer, item_id, status=400, error=str(exc), draft=draft)
        return RedirectResponse(f"/queue/{item_id}?done={done}", status_code=303)


def queue_router(dash: Dashboard) -> APIRouter:
    """Build the queue routes."""
    router = APIRouter()
    pages = ItemPages(dash)
    db = dash.db

    def queue_context(request: Request, choices: bool) -> dict[str, Any]:
        """The list and counters for the query string's filter; with `choices`, the filters' options."""
        with db.connect() as conn:
            where = read_filter(conn, request.query_params)
            now = dash.clock.now()
            rows = list_items(conn, where)
            context: dict[str, Any] = {
                "rows": rows,
                "counters": queue_counters(conn, now),
                "promises": item_promises(conn, [row.id for row in rows], now),
                "where": where,
            }
            if choices:
                context.update(
                    platforms=[p.value for p in Platform],
                    categories=[c.value for c in Category],
                    languages=known_languages(conn),
                    statuses=STATUS_FILTERS,
                    assignees=known_assignees(conn),
                    no_assignee=NO_ASSIGNEE,
                )
            return context

    @router.get("/queue")
    def queue_page(request: Request, viewer: Annotated[Viewer, Depends(dash.viewer)]) -> Response:
        """The review queue, most urgent first, with filters; the list refreshes itself."""
        try:
            context = queue_context(request, choices=True)
        except ValueError as exc:
            return dash.error(request, 400, str(exc))
        return dash.page("queue.html", viewer, poll_seconds=dash.config.poll_seconds, **context)

    @router.get("/queue/live")
    def queue_live(request: Request, viewer: Annotated[Viewer, Depends(dash.api_viewer)]) -> Response:
        """The counters and the list alone (HTML fragment), for the page's refresh script."""
        try:
            context = queue_context(request, choices=False)
        except ValueError as exc:
            return dash.views.render("_error_fragment.html", status=400, message=str(exc))
        return dash.views.render("_queue_live.html", viewer=viewer, now=dash.clock.now(), **context)

    @router.get("/queue/{item_id}")
    def item_page(item_id: int, viewer: Annotated[Viewer, Depends(dash.viewer)], done: str = "") -> Response:
        """One item: the whole conversation, what automation did, the author's history, the actions."""
        return pages.render(viewer, item_id, notice=DONE.get(done))

    Post = Annotated[Posted, Depends(dash.posted)]

    @router.post("/queue/{item_id}/claim")
    def claim(item_id: int, posted: Post) -> Response:
        """Take the item."""

        def run(v: Viewer, now: datetime) -> str:
            claim_item(db, item_id, v.name, now)
            return "claimed"

        return pages.act(posted, item_id, run)

    @router.post("/queue/{item_id}/release")
    def release(item_id: int, posted: Post) -> Response:
        """Give the item back to the queue (its holder, or a manager)."""

        def run(v: Viewer, now: datetime) -> str:
            release_item(db, item_id, v.name, now, respect_claim=not v.overrides_claims)
            return "released"

        return pages.act(posted, item_id, run)

    @router.post("/queue/{item_id}/assign")
    def assign(item_id: int, posted: Post) -> Response:
        """Give the item to someone (an item someone else holds: managers only)."""

        def run(v: Viewer, now: datetime) -> str:
            assign_item(
                db, item_id, posted.form.get("assignee"), v.name, now, respect_claim=not v.overrides_claims
            )
            return "assigned"

        return pages.act(posted, item_id, run)

    @router.post("/queue/{item_id}/reply")
    def reply(item_id: int, posted: Post) -> Response:
        """Queue a reply to the customer; the same form submitted twice sends once."""
        form = posted.form

        def run(v: Viewer, now: datetime) -> str:
            request = reply_to_item(
                db,
                item_id,
                form.get("text"),
                v.name,
                now,
                request_key=form.get("request_key"),
                message_id=_message_id(form.get("message_id")),
                respect_claim=not v.overrides_claims,
            )
            return "reply" if request.created else "reply-again"

        return pages.act(posted, item_id, run, draft={"reply": form.get("text")})

    @router.post("/queue/{item_id}/private")
    def private(item_id: int, posted: Post) -> Response:
        """Queue a private message by the platform's private route (with a public invitation as fallback)."""
        form = posted.form

        def run(v: Viewer, now: datetime) -> str:
            request = move_item_private(
                db,
                item_id,
                form.get("text"),
                v.name,
                now,
                request_key=form.get("request_key"),
                router=pages.route,
                fallback_text=form.get("fallback") or None,
                message_id=_message_id(form.get("message_id")),
                respect_claim=not v.overrides_claims,
            )
            return "private" if request.created else "private-again"

        return pages.act(
            posted, item_id, run, draft={"private": form.get("text"), "fallback": form.get("fallback")}
        )

    @router.post("/queue/{item_id}/hide")
    def hide(item_id: int, posted: Post) -> Response:
        """Queue hiding one message (Facebook comments, Telegram group messages)."""

        def run(v: Viewer, now: datetime) -> str:
            message_id = _message_id(posted.form.get("message_id"))
            if message_id is None:
                raise ValueError("choose a message to hide")
            request = hide_message(db, item_id, message_id, v.name, now, respect_claim=not v.overrides_claims)
            return "hide" if request.created else "hide-again"

        return pages.act(posted, item_id, run)

    @router.post("/queue/{item_id}/label")
    def label(item_id: int, posted: Post) -> Response:
        """Label one message troll / not troll, complaint / not complaint (for training)."""

        def run(v: Viewer, now: datetime) -> str:
            name = posted.form.get("label")
            if name not in ITEM_LABELS:
                raise ValueError(f"unknown label {name!r}; allowed: {', '.join(ITEM_LABELS)}")
            label_item(
                db, item_id, [name], v.name, now, message_id=_message_id(posted.form.get("message_id"))
            )
            return "labelled"

        return pages.act(posted, item_id, run)

    @router.post("/queue/{item_id}/resolve")
    def resolve(item_id: int, posted: Post) -> Response:
        """Mark the item done, with an optional note."""

        def run(v: Viewer, now: datetime) -> str:
            resolve_item(
                db, item_id, v.name, now, note=posted.form.get("note"), respect_claim=not v.overrides_claims
            )
            return "resolved"

        return pages.act(posted, item_id, run, draft={"note": posted.form.get("note")})

    @router.post("/queue/{item_id}/reopen")
    def reopen(item_id: int, posted: Post) -> Response:
        """Put a resolved item back in the queue."""

        def run(v: Viewer, now: datetime) -> str:
            reopen_item(db, item_id, v.name, now, note=posted.form.get("note"))
            return "reopened"

        return pages.act(posted, item_id, run)

    return router
