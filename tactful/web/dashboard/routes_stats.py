"""The stats page: response times, rates and backlog as charts, and the Messenger badge (any logged-in person).

No ``from __future__ import annotations`` here: FastAPI reads the routes' annotations, which name
dependencies local to `stats_router`.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from storage.response_metrics import catch_up
from tactful.response_targets import response_target
from tactful.stats import compute_stats, windows_for
from tactful.web.dashboard.auth import Viewer
from tactful.web.dashboard.charts import bar_chart, line_chart
from tactful.web.dashboard.site import Dashboard

DAY_CHOICES = (7, 14, 30, 90)


def _minutes(seconds: float | None) -> float | None:
    return None if seconds is None else seconds / 60


def charts(report: dict[str, Any]) -> dict[str, Any]:
    """The page's three charts from a report: distribution, daily trend, daily backlog."""
    dist = report["distribution"]
    labels = [*dist["buckets"], "none yet"]
    days = report["daily"]
    day_labels = [d["day"][5:] for d in days]
    return {
        "distribution": bar_chart(
            f"First-response times, last {dist['window']}",
            labels,
            [
                ("any response", "s-any", [*dist["any"], dist["any_unanswered"]]),
                ("a person's", "s-human", [*dist["human"], dist["human_unanswered"]]),
            ],
        ),
        "trend": line_chart(
            "First-response time per day (minutes)",
            day_labels,
            [
                ("median", "s-any", [_minutes(d["p50_seconds"]) for d in days]),
                ("90th percentile", "s-p90", [_minutes(d["p90_seconds"]) for d in days]),
                ("a person's, median", "s-human", [_minutes(d["human_p50_seconds"]) for d in days]),
            ],
            unit=" min",
        ),
        "backlog": bar_chart(
            "Conversations per day, and waiting at the day's end",
            day_labels,
            [
                ("started", "s-volume", [d["conversations"] for d in days]),
                ("waiting at day end", "s-backlog", [d["backlog"] for d in days]),
            ],
        ),
    }


def stats_router(dash: Dashboard) -> APIRouter:
    """GET /stats."""
    router = APIRouter()
    LoggedIn = Annotated[Viewer, Depends(dash.viewer)]

    @router.get("/stats")
    def stats_page(viewer: LoggedIn, days: int | None = None) -> Response:
        """Badge status, the figures per platform, account and channel, and the charts."""
        if days is not None and days not in DAY_CHOICES:
            days = None
        policy = dash.config.policy().loaded.policy if dash.config.policy is not None else None
        catch_up(dash.db)  # metrics as of now, not as of the last fold
        with dash.db.connect() as conn:
            report = compute_stats(
                conn,
                dash.clock.now(),
                windows_for(days),
                targets=lambda platform, channel: response_target(platform, channel, policy),
                badge_counts_automated=dash.config.badge_counts_automated,
            )
        return dash.page(
            "stats.html", viewer, report=report, charts=charts(report), days=days, day_choices=DAY_CHOICES
        )

    return router
