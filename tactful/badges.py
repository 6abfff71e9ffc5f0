"""Facebook Messenger's "Very responsive to messages" badge: on track, at risk or lost, and how to recover.

Meta shows the badge on a Page that, over the last 7 days, has a response rate of 90% or more and
a response time under 15 minutes (docs/stats.md cites the definitions). Here, from the Page's
Messenger conversations that started in the last 7 days:

- response rate = conversations answered within 24 hours / conversations decided (answered, or
  older than 24 hours); conversations younger than 24 hours and unanswered are *pending*;
- response time = the mean of the fastest 90% of first-response times (ceil(0.9 n) of them).

``lost``: the criteria fail now. ``at_risk``: they hold, but the rate is under `RATE_WARN`, the
time is at least `TIME_WARN`, the pending conversations would take the rate under 90% if
missed, or answering every waiting conversation right now would take the time to 15 minutes or
more. Otherwise ``on_track``. Only responses the badge counts are used: people's replies, and
automation's too when `[stats] badge_counts_automated` is set.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

BADGE = "messenger-very-responsive"
BADGE_WINDOW_DAYS = 7
RATE_NEEDED = 0.90
TIME_LIMIT_SECONDS = 15 * 60  # the time must stay under this
RATE_WARN = 0.93
TIME_WARN_SECONDS = 12 * 60
REPLY_WINDOW_MS = 24 * 3600 * 1000
FAST_REPLY_SECONDS = 60  # what recovery advice assumes a prompt answer takes
ON_TRACK, AT_RISK, LOST = "on_track", "at_risk", "lost"
_MAX_ADVICE = 1_000_000

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class BadgeStatus:
    """The badge's state for one Page, with the figures behind it and what it takes to keep or win it back."""

    key: str
    account: str
    level: str
    conversations: int
    decided: int
    responded: int
    pending: int
    rate: float | None
    response_time_seconds: float | None
    oldest_waiting_seconds: float | None
    reasons: list[str] = field(default_factory=list)
    recovery: list[str] = field(default_factory=list)
    counts: str = "human"  # which responses counted: "human", or "any" with automation's

    def to_json(self) -> dict[str, Any]:
        """The status as JSON-ready values."""
        return {
            "badge": BADGE,
            "key": self.key,
            "account": self.account,
            "status": self.level,
            "conversations": self.conversations,
            "decided": self.decided,
            "responded": self.responded,
            "pending": self.pending,
            "response_rate": self.rate,
            "response_time_seconds": self.response_time_seconds,
            "oldest_waiting_seconds": self.oldest_waiting_seconds,
            "criteria": {
                "window_days": BADGE_WINDOW_DAYS,
                "response_rate_at_least": RATE_NEEDED,
                "response_time_under_seconds": TIME_LIMIT_SECONDS,
            },
            "reasons": list(self.reasons),
            "recovery": list(self.recovery),
            "counts": self.counts,
        }


def fastest_90_mean(sorted_ms: IntArray) -> float | None:
    """Mean of the fastest ceil(90%) of sorted delays, in seconds (None without any)."""
    n = len(sorted_ms)
    if n == 0:
        return None
    keep = (9 * n + 9) // 10
    return int(sorted_ms[:keep].sum()) / keep / 1000


def _time_with_fast(sorted_ms: IntArray, prefix: IntArray, k: int) -> float:
    """The badge time if `k` more conversations were answered in `FAST_REPLY_SECONDS`."""
    fast = FAST_REPLY_SECONDS * 1000
    n = len(sorted_ms) + k
    keep = (9 * n + 9) // 10
    below = int(np.searchsorted(sorted_ms, fast, side="left"))
    take_below = min(below, keep)
    total = int(prefix[take_below])
    rest = keep - take_below
    take_fast = min(k, rest)
    total += take_fast * fast
    rest -= take_fast
    total += int(prefix[take_below + rest]) - int(prefix[take_below])
    return total / keep / 1000


def fast_answers_needed(sorted_ms: IntArray, limit_seconds: float) -> int | None:
    """How many more prompt answers bring the badge time under `limit_seconds` (None: more than a million)."""
    prefix = np.concatenate(([0], np.cumsum(sorted_ms, dtype=np.int64)))
    if _time_with_fast(sorted_ms, prefix, 0) < limit_seconds:
        return 0
    if _time_with_fast(sorted_ms, prefix, _MAX_ADVICE) >= limit_seconds:
        return None
    low, high = 0, _MAX_ADVICE  # time(low) >= limit > time(high)
    while high - low > 1:
        mid = (low + high) // 2
        if _time_with_fast(sorted_ms, prefix, mid) < limit_seconds:
            high = mid
        else:
            low = mid
    return high


def evaluate(
    key: str, account: str, delays_ms: IntArray, waiting_ages_ms: IntArray, counts: str = "human"
) -> BadgeStatus:
    """The badge's status from the 7-day window's counted first-response delays and the unanswered ages."""
    answered = np.sort(delays_ms.astype(np.int64))
    responded = int(np.count_nonzero(answered <= REPLY_WINDOW_MS))
    missed = int(np.count_nonzero(waiting_ages_ms >= REPLY_WINDOW_MS))
    pending_ages = waiting_ages_ms[waiting_ages_ms < REPLY_WINDOW_MS]
    pending = len(pending_ages)
    decided = len(answered) + missed
    rate = responded / decided if decided else None
    time = fastest_90_mean(answered)
    oldest = float(pending_ages.max()) / 1000 if pending else None
    reasons: list[str] = []
    recovery: list[str] = []
    rate_ok = rate is None or rate >= RATE_NEEDED
    time_ok = time is None or time < TIME_LIMIT_SECONDS
    if not rate_ok:
        reasons.append(f"response rate {_pct(rate)} is under 90%")
        k = 9 * decided - 10 * responded
        recovery.append(f"answer the next {k} new conversations within 24 hours, missing none")
    if not time_ok:
        reasons.append(f"response time {_minutes(time)} is not under 15 min")
        recovery.append(_time_advice(answered, TIME_LIMIT_SECONDS))
    if rate_ok and time_ok:
        if rate is not None and rate < RATE_WARN:
            reasons.append(f"response rate {_pct(rate)} is close to 90%")
        if time is not None and time >= TIME_WARN_SECONDS:
            reasons.append(f"response time {_minutes(time)} is close to 15 min")
            recovery.append(_time_advice(answered, TIME_WARN_SECONDS))
        if pending and 10 * responded < 9 * (decided + pending):
            reasons.append(f"missing the {pending} waiting conversations would take the rate under 90%")
        if pending:
            projected = fastest_90_mean(np.sort(np.concatenate((answered, pending_ages.astype(np.int64)))))
            if projected is not None and projected >= TIME_LIMIT_SECONDS:
                reasons.append(
                    "answering the waiting conversations now would take the time to 15 min or more"
                )
        if decided and 10 * responded >= 9 * decided:
            spare = (10 * responded - 9 * decided) // 9
            recovery.append(f"{spare} more missed conversations would take the rate under 90%")
    if pending:
        recovery.insert(0, f"answer the {pending} waiting conversations now (oldest {_minutes(oldest)})")
    level = LOST if not (rate_ok and time_ok) else AT_RISK if reasons else ON_TRACK
    return BadgeStatus(
        key=key,
        account=account,
        level=level,
        conversations=len(answered) + len(waiting_ages_ms),
        decided=decided,
        responded=responded,
        pending=pending,
        rate=rate,
        response_time_seconds=time,
        oldest_waiting_seconds=oldest,
        reasons=reasons,
        recovery=recovery,
        counts=counts,
    )


def _time_advice(answered: IntArray, limit_seconds: float) -> str:
    k = fast_answers_needed(answered, limit_seconds)
    goal = _minutes(limit_seconds)
    if k is None:
        return f"answer every new conversation within {FAST_REPLY_SECONDS // 60} min until the time is under {goal}"
    return f"answer the next {k} new conversations within {FAST_REPLY_SECONDS // 60} min to get the time under {goal}"


def _pct(rate: float | None) -> str:
    return "-" if rate is None else f"{math.floor(rate * 1000) / 10:.1f}%"


def _minutes(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min"


def alert_text(status: BadgeStatus, dashboard_url: str | None) -> str:
    """The team-chat alert for a badge at risk or lost, as Telegram HTML (every name escaped)."""
    title = "Messenger badge at risk" if status.level == AT_RISK else "Messenger badge lost"
    lines = [
        f"<b>{title}</b>: {html.escape(status.account)}",
        f"Response rate (7 days): {_pct(status.rate)} (needs 90% or more)",
        f"Response time: {_minutes(status.response_time_seconds)} (needs under 15 min)",
    ]
    if status.pending:
        lines.append(f"Waiting now: {status.pending}, oldest {_minutes(status.oldest_waiting_seconds)}")
    lines += [f"Why: {html.escape(reason)}" for reason in status.reasons]
    lines += [f"To do: {html.escape(step)}" for step in status.recovery]
    if dashboard_url:
        lines.append(html.escape(f"{dashboard_url.rstrip('/')}/stats"))
    return "\n".join(lines)
