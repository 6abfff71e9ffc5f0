"""`tactful stats`: response-time metrics per platform, account and channel, and the Messenger badge.

``--json`` prints the whole report (the shape is in docs/stats.md); ``--days N`` reports one
window of the last N days instead of 24 h / 7 days / 30 days; ``--at TIME`` reports as of an
earlier moment; ``--rebuild`` first recomputes the conversations from stored history (after an
upgrade from a version without metrics).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any


def _at(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date or time: {value!r}") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _days(value: str) -> int:
    try:
        days = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of days: {value!r}") from None
    if not 1 <= days <= 366:
        raise argparse.ArgumentTypeError("--days takes 1 to 366")
    return days


def add_stats_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `tactful stats` to the command line."""
    p = sub.add_parser("stats", help="response times, response rates, backlog and the Messenger badge")
    p.add_argument("--json", action="store_true", help="print the whole report as JSON")
    p.add_argument(
        "--days", type=_days, metavar="N", help="one window of the last N days (default: 24h, 7d, 30d)"
    )
    p.add_argument("--at", type=_at, metavar="TIME", help="report as of this ISO time (UTC unless given)")
    p.add_argument("--rebuild", action="store_true", help="recompute conversations from stored history first")
    p.set_defaults(func=cmd_stats)


def _policy(settings: Any) -> Any:
    """The configured policy, for its SLA targets; None if it cannot be read (the defaults apply)."""
    from policies.issues import PolicyError
    from policies.loader import load_policies
    from tactful.policy_source import policy_paths

    try:
        return load_policies(list(policy_paths(settings.policy.path))).policy
    except (PolicyError, OSError):
        return None


def cmd_stats(args: argparse.Namespace) -> int:
    """Print the response-time report."""
    from storage.db import make_engine
    from storage.migrate import upgrade
    from storage.response_metrics import catch_up, rebuild
    from tactful.cli import _settings
    from tactful.response_targets import response_target
    from tactful.stats import compute_stats, windows_for

    settings = _settings(args)
    engine = make_engine(settings.storage.url)
    upgrade(engine)
    policy = _policy(settings)
    now = args.at or datetime.now(UTC)
    try:
        if args.rebuild:
            with engine.begin() as conn:
                count = rebuild(conn)
            print(f"rebuilt {count} conversations", file=sys.stderr)
        catch_up(engine)  # fold what the processing stage noted since the last fold
        with engine.connect() as conn:
            report = compute_stats(
                conn,
                now,
                windows_for(args.days),
                targets=lambda platform, channel: response_target(platform, channel, policy),
                badge_counts_automated=settings.stats.badge_counts_automated,
            )
    finally:
        engine.dispose()
    if args.json:
        json.dump(report, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
        return 0
    sys.stdout.write(format_report(report))
    return 0


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _dur(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds / 60:.1f}m"
    return f"{seconds / 3600:.1f}h"


def format_report(report: dict[str, Any]) -> str:
    """The report as a plain-text table."""
    lines = [f"response times as of {report['as_of']} (definitions: docs/stats.md)", ""]
    header = (
        f"{'group':<36} {'window':<6} {'conv':>6} {'backlog':>7} {'rate':>7} {'in tgt':>7} "
        f"{'p50':>6} {'p90':>6} {'human p50':>9} {'human p90':>9} {'auto p50':>8}"
    )
    lines.append(header)
    for group in report["groups"]:
        name = (
            "/".join(part for part in (group["platform"], group["account"], group["channel"]) if part)
            or "all"
        )
        for window, m in group["windows"].items():
            lines.append(
                f"{name[:36]:<36} {window:<6} {m['conversations']:>6} {m['backlog']:>7} "
                f"{_pct(m['any']['rate']):>7} {_pct(m['any']['within_target']):>7} "
                f"{_dur(m['any']['p50_seconds']):>6} {_dur(m['any']['p90_seconds']):>6} "
                f"{_dur(m['human']['p50_seconds']):>9} {_dur(m['human']['p90_seconds']):>9} "
                f"{_dur(m['automated']['p50_seconds']):>8}"
            )
    for badge in report["badges"]:
        lines += [
            "",
            f"Messenger badge for {badge['account']}: {badge['status'].replace('_', ' ')} "
            f"(rate {_pct(badge['response_rate'])}, time {_dur(badge['response_time_seconds'])}, "
            f"counting {badge['counts']} responses)",
        ]
        lines += [f"  why: {reason}" for reason in badge["reasons"]]
        lines += [f"  to do: {step}" for step in badge["recovery"]]
    return "\n".join(lines) + "\n"
