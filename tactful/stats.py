"""Response-time metrics over rolling windows, per platform, account and channel (docs/stats.md).

Everything is computed from `response_conversations` in one indexed range read and numpy
arithmetic: no per-conversation queries. For each group and window, and for each kind of
response (``any``, ``human``, ``automated``):

- ``rate``: conversations answered within 24 hours / conversations decided (answered, or older
  than 24 hours); unanswered younger ones are ``pending``;
- ``within_target``: answered within the channel's target / conversations answered or older than
  the target (`tactful.response_targets`);
- ``p50_seconds``/``p90_seconds``: nearest-rank percentiles of first-response times (the value at
  rank ceil(p/100 * n) of the n answered, sorted ascending);
- ``backlog``: conversations with no response of any kind yet, ``awaiting_human`` with none from
  a person.

Responses after the report's time `now` are ignored, so a report about a past moment is the
same as it was then.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import chain
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, case, func, select

from storage import tables as t
from storage.response_metrics import epoch_ms, is_messenger
from tactful.badges import BADGE, BADGE_WINDOW_DAYS, BadgeStatus, evaluate
from tactful.domain import Channel, Platform
from tactful.response_targets import response_target

DAY_MS = 86_400_000
REPLY_WINDOW_MS = DAY_MS
DEFAULT_WINDOWS: tuple[tuple[str, timedelta], ...] = (
    ("24h", timedelta(hours=24)),
    ("7d", timedelta(days=7)),
    ("30d", timedelta(days=30)),
)
MODES = ("any", "human", "automated")
#: Upper bounds (seconds) of the response-time distribution's buckets; the last bucket is open.
BUCKETS: tuple[tuple[str, int], ...] = (
    ("< 1 min", 60),
    ("1-5 min", 300),
    ("5-15 min", 900),
    ("15-60 min", 3600),
    ("1-4 h", 4 * 3600),
    ("4-24 h", 24 * 3600),
)
LAST_BUCKET = "> 24 h"

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
Targets = Callable[[str, str], tuple[int, str]]


def windows_for(days: int | None) -> tuple[tuple[str, timedelta], ...]:
    """The report's windows: 24 h, 7 days and 30 days, or just the last `days` days."""
    if days is None:
        return DEFAULT_WINDOWS
    if days < 1:
        raise ValueError("--days must be at least 1")
    return ((f"{days}d", timedelta(days=days)),)


def nearest_rank(sorted_values: IntArray, percent: int) -> int | None:
    """The nearest-rank percentile: the value at 1-based rank ceil(percent/100 * n) (None if empty)."""
    n = len(sorted_values)
    if n == 0:
        return None
    rank = max(1, (percent * n + 99) // 100)
    return int(sorted_values[rank - 1])


def _seconds(ms: int | None) -> float | None:
    return None if ms is None else ms / 1000


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass(slots=True)
class _Data:
    """The window's conversations as columns."""

    now_ms: int
    group: IntArray  # index into keys
    start: IntArray
    age: IntArray
    target: IntArray
    delays: dict[str, IntArray]  # by mode; -1: no response of that kind by `now`
    order: dict[str, IntArray]  # by mode: argsort of delays
    ranked: dict[str, IntArray]  # by mode: delays sorted (delays[order])


_PLATFORMS = tuple(p.value for p in Platform)
_CHANNELS = tuple(c.value for c in Channel)
_SLOTS = 8  # platform and channel indexes fit in 3 bits each; 7 is "other"


def _code_of(column: Any, values: Sequence[str]) -> Any:
    return case({value: i for i, value in enumerate(values)}, value=column, else_=_SLOTS - 1)


def _key_of(code: int) -> tuple[str, int | None, str]:
    platform, channel = code // _SLOTS % _SLOTS, code % _SLOTS
    return (
        _PLATFORMS[platform] if platform < len(_PLATFORMS) else "other",
        code // (_SLOTS * _SLOTS) - 1 if code >= _SLOTS * _SLOTS else None,
        _CHANNELS[channel] if channel < len(_CHANNELS) else "other",
    )


def _load(
    conn: Connection, now: datetime, since: datetime
) -> tuple[list[tuple[str, int | None, str]], _Data]:
    """Read the window's conversations: one range scan of a covering index, four integers a row.

    The group (platform, account, channel) comes back as one integer code, so no string is
    handled per row in Python.
    """
    rc = t.response_conversations
    now_ms, since_ms = epoch_ms(now), epoch_ms(since)
    code = (
        func.coalesce(rc.c.account_id + 1, 0) * (_SLOTS * _SLOTS)
        + _code_of(rc.c.platform, _PLATFORMS) * _SLOTS
        + _code_of(rc.c.channel, _CHANNELS)
    )
    query = select(
        code,
        rc.c.started_ms,
        func.coalesce(rc.c.human_ms, -1),
        func.coalesce(rc.c.automated_ms, -1),
    ).where(rc.c.started_ms > since_ms, rc.c.started_ms <= now_ms)
    # Only integers and the enums' names are inlined; the DBAPI cursor skips building a Row per row.
    sql = str(query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    cursor = conn.connection.cursor()
    try:
        cursor.execute(sql)
        rows = cursor.fetchall()
    finally:
        cursor.close()
    flat = np.fromiter(chain.from_iterable(rows), dtype=np.int64, count=4 * len(rows)).reshape(-1, 4)
    codes, group = np.unique(flat[:, 0], return_inverse=True)
    keys = [_key_of(int(c)) for c in codes]
    start, human, auto = flat[:, 1].copy(), flat[:, 2], flat[:, 3]
    # A response sent after `now` has not happened yet as far as this report is concerned.
    human = np.where((human >= 0) & (start + human <= now_ms), human, -1)
    auto = np.where((auto >= 0) & (start + auto <= now_ms), auto, -1)
    anyd = np.where(human < 0, auto, np.where(auto < 0, human, np.minimum(human, auto)))
    delays = {"any": anyd, "human": human, "automated": auto}
    order = {mode: np.argsort(d, kind="stable") for mode, d in delays.items()}
    return keys, _Data(
        now_ms=now_ms,
        group=group.astype(np.int64).reshape(-1),
        start=start,
        age=now_ms - start,
        target=np.zeros(len(rows), dtype=np.int64),
        delays=delays,
        order=order,
        ranked={mode: d[order[mode]] for mode, d in delays.items()},
    )


def _mode_metrics(data: _Data, sel: BoolArray, mode: str) -> dict[str, Any]:
    d = data.delays[mode]
    answered = sel & (d >= 0)
    decided = int(np.count_nonzero(answered | (sel & (data.age >= REPLY_WINDOW_MS))))
    responded = int(np.count_nonzero(answered & (d <= REPLY_WINDOW_MS)))
    target_decided = int(np.count_nonzero(answered | (sel & (data.age >= data.target))))
    within = int(np.count_nonzero(answered & (d <= data.target)))
    ranked = data.ranked[mode][answered[data.order[mode]]]
    return {
        "answered": int(np.count_nonzero(answered)),
        "responded_24h": responded,
        "decided": decided,
        "pending": int(np.count_nonzero(sel)) - decided,
        "rate": _ratio(responded, decided),
        "within_target": _ratio(within, target_decided),
        "p50_seconds": _seconds(nearest_rank(ranked, 50)),
        "p90_seconds": _seconds(nearest_rank(ranked, 90)),
    }


def _window_metrics(data: _Data, sel: BoolArray) -> dict[str, Any]:
    result: dict[str, Any] = {
        "conversations": int(np.count_nonzero(sel)),
        "backlog": int(np.count_nonzero(sel & (data.delays["any"] < 0))),
        "awaiting_human": int(np.count_nonzero(sel & (data.delays["human"] < 0))),
    }
    for mode in MODES:
        result[mode] = _mode_metrics(data, sel, mode)
    return result


def _daily(data: _Data, sel: BoolArray, first_day: int, last_day: int) -> list[dict[str, Any]]:
    """Per UTC day: conversations started, rate, percentiles, share within target, backlog at the day's end."""
    day = data.start // DAY_MS
    days: list[dict[str, Any]] = []
    anyd, human = data.delays["any"], data.delays["human"]
    for k in range(first_day, last_day + 1):
        on_day = sel & (day == k)
        metrics = _mode_metrics(data, on_day, "any")
        human_metrics = _mode_metrics(data, on_day, "human")
        end = min((k + 1) * DAY_MS, data.now_ms)
        # Waiting at the day's end: started in the 24 hours before it and unanswered then.
        recent = sel & (data.start <= end) & (data.start > end - REPLY_WINDOW_MS)
        waiting = recent & ((anyd < 0) | (data.start + anyd > end))
        days.append(
            {
                "day": datetime.fromtimestamp(k * 86_400, UTC).date().isoformat(),
                "conversations": int(np.count_nonzero(on_day)),
                "rate": metrics["rate"],
                "within_target": metrics["within_target"],
                "p50_seconds": metrics["p50_seconds"],
                "p90_seconds": metrics["p90_seconds"],
                "human_p50_seconds": human_metrics["p50_seconds"],
                "human_p90_seconds": human_metrics["p90_seconds"],
                "backlog": int(np.count_nonzero(waiting)),
                "awaiting_human": int(np.count_nonzero(on_day & (human < 0))),
            }
        )
    return days


def _distribution(data: _Data, sel: BoolArray) -> dict[str, Any]:
    edges = np.asarray([limit * 1000 for _, limit in BUCKETS], dtype=np.int64)
    labels = [label for label, _ in BUCKETS] + [LAST_BUCKET]
    result: dict[str, Any] = {"buckets": labels}
    for mode in MODES:
        d = data.delays[mode][sel & (data.delays[mode] >= 0)]
        counts = np.bincount(np.searchsorted(edges, d, side="left"), minlength=len(labels))
        result[mode] = [int(c) for c in counts]
        result[f"{mode}_unanswered"] = int(np.count_nonzero(sel & (data.delays[mode] < 0)))
    return result


def _account_names(conn: Connection) -> dict[int, str]:
    a = t.accounts
    return {
        row.id: row.username or row.external_id
        for row in conn.execute(select(a.c.id, a.c.username, a.c.external_id))
    }


def _group_json(
    platform: str | None, account: str | None, channel: str | None, targets: set[tuple[int, str]]
) -> dict[str, Any]:
    target = next(iter(targets)) if len(targets) == 1 else None
    return {
        "platform": platform,
        "account": account,
        "channel": channel,
        "target_seconds": target[0] if target else None,
        "target_source": target[1] if target else None,
    }


def compute_stats(
    conn: Connection,
    now: datetime,
    windows: Sequence[tuple[str, timedelta]] = DEFAULT_WINDOWS,
    *,
    targets: Targets = response_target,
    badge_counts_automated: bool = False,
) -> dict[str, Any]:
    """The whole report: groups, windows and kinds of response, the daily trend, the distribution, badges."""
    longest = max(max(w for _, w in windows), timedelta(days=BADGE_WINDOW_DAYS))
    keys, data = _load(conn, now, now - longest)
    names = _account_names(conn)
    key_targets = [targets(platform, channel) for platform, _, channel in keys]
    if len(keys):
        data.target = np.asarray([ms for ms, _ in key_targets], dtype=np.int64)[data.group] * 1000
    in_window = {name: data.age < int(w.total_seconds() * 1000) for name, w in windows}
    levels: list[tuple[dict[str, Any], BoolArray]] = []
    everything = np.ones(len(data.start), dtype=np.bool_)
    levels.append((_group_json(None, None, None, set(key_targets)), everything))
    for platform in sorted({k[0] for k in keys}):
        codes = [i for i, k in enumerate(keys) if k[0] == platform]
        sel = np.isin(data.group, codes)
        levels.append((_group_json(platform, None, None, {key_targets[i] for i in codes}), sel))
    for i, (platform, account_id, channel) in sorted(
        enumerate(keys), key=lambda item: (item[1][0], names.get(item[1][1] or 0, ""), item[1][2])
    ):
        account = names.get(account_id) if account_id is not None else None
        levels.append((_group_json(platform, account, channel, {key_targets[i]}), data.group == i))
    groups = []
    for head, sel in levels:
        groups.append(
            {**head, "windows": {name: _window_metrics(data, sel & in_window[name]) for name, _ in windows}}
        )
    longest_name, longest_window = max(windows, key=lambda w: w[1])
    report_sel = in_window[longest_name]
    first_day = (data.now_ms - int(longest_window.total_seconds() * 1000) + 1) // DAY_MS
    return {
        "as_of": now.astimezone(UTC).isoformat(),
        "windows": [{"name": name, "seconds": int(w.total_seconds())} for name, w in windows],
        "definitions": "docs/stats.md",
        "groups": groups,
        "daily": _daily(data, report_sel, first_day, data.now_ms // DAY_MS),
        "distribution": {"window": longest_name, **_distribution(data, report_sel)},
        "badges": [b.to_json() for b in _badges(data, keys, names, badge_counts_automated)],
    }


def _badges(
    data: _Data, keys: list[tuple[str, int | None, str]], names: dict[int, str], counts_automated: bool
) -> list[BadgeStatus]:
    """The Messenger badge of every Page with Messenger conversations in the last 7 days."""
    mode = "any" if counts_automated else "human"
    week = data.age < BADGE_WINDOW_DAYS * DAY_MS
    pages: dict[int | None, list[int]] = {}
    for i, (platform, account_id, channel) in enumerate(keys):
        if is_messenger(platform, channel):
            pages.setdefault(account_id, []).append(i)
    statuses = []
    for account_id, codes in sorted(pages.items(), key=lambda item: item[0] or 0):
        sel = week & np.isin(data.group, codes)
        d = data.delays[mode]
        account = names.get(account_id, "") if account_id is not None else "Facebook Page"
        statuses.append(
            evaluate(
                f"{BADGE}:facebook:{account_id if account_id is not None else '-'}",
                account,
                d[sel & (d >= 0)],
                data.age[sel & (d < 0)],
                counts=mode,
            )
        )
    return statuses


def badge_statuses(conn: Connection, now: datetime, *, counts_automated: bool = False) -> list[BadgeStatus]:
    """Only the badges (a 7-day read), for the team chat's alerts."""
    keys, data = _load(conn, now, now - timedelta(days=BADGE_WINDOW_DAYS))
    return _badges(data, keys, _account_names(conn), counts_automated)
