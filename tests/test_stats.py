"""`tactful stats`: on a generated history with known answers the report is exact, and the rules hold.

The expected figures are computed here from the generator's own record of each conversation
(start, first human and automated response), with the definitions of docs/stats.md:
nearest-rank percentiles, rates over decided conversations, targets per channel.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from storage import tables as t
from storage.db import make_engine
from storage.migrate import upgrade
from storage.response_metrics import (
    CustomerMessage,
    Response,
    rebuild,
    record_customer_messages,
    record_response,
    segment,
)
from tactful.cli import main
from tactful.response_targets import response_target
from tactful.stats import compute_stats, windows_for
from tests.stats_history import ACCOUNT_OF, FALLBACK_TARGET, TARGETS, GenConversation, generate, store

START = datetime(2026, 2, 1, tzinfo=UTC)
SPAN = timedelta(days=36)
NOW = START + timedelta(days=35, hours=7, minutes=13)
DAY = 86_400


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[list[GenConversation]]]:
    tmp = tmp_path_factory.mktemp("stats")
    db = make_engine(f"sqlite:///{tmp / 'tactful.db'}")
    upgrade(db)
    keys = generate(seed=20260201, conversations=10_000, start=START, span=SPAN)
    store(db, keys, NOW)
    with db.begin() as conn:
        assert rebuild(conn) == 10_000
    db.dispose()
    config = tmp / "tactful.toml"
    config.write_text(f'[storage]\nurl = "sqlite:///{tmp / "tactful.db"}"\n', encoding="utf-8")
    return config, keys


def run_stats(config: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, Any]:
    capsys.readouterr()
    assert main(["--config", str(config), "stats", "--json", "--at", NOW.isoformat(), *extra]) == 0
    report: dict[str, Any] = json.loads(capsys.readouterr().out)
    return report


@pytest.fixture(autouse=True)
def _default_targets(monkeypatch: pytest.MonkeyPatch) -> None:
    """The report uses the documented default targets, whatever the shipped policy sets."""
    monkeypatch.setattr("tactful.cli_stats._policy", lambda settings: None)


def rank(values: list[int], percent: int) -> float | None:
    """Nearest rank, computed the textbook way, in seconds."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(percent / 100 * len(ordered))) - 1] / 1000


def expected(convs: list[GenConversation], window: timedelta) -> dict[str, Any]:
    """The window's figures from the generator's record, as of NOW."""
    return expected_at(convs, NOW, window)


def expected_at(convs: list[GenConversation], now: datetime, window: timedelta) -> dict[str, Any]:
    """The window's figures from the generator's record, as of `now`."""
    now_ms = int(now.timestamp() * 1000)
    inside = [c for c in convs if now - window < c.start <= now]
    result: dict[str, Any] = {"conversations": len(inside)}
    firsts: dict[str, list[tuple[int, int, int]]] = {"any": [], "human": [], "automated": []}
    for c in inside:
        start_ms = int(c.start.timestamp() * 1000)
        target = TARGETS.get((c.platform, c.channel), FALLBACK_TARGET) * 1000
        human = [int(a.timestamp() * 1000) for a in c.human if a <= now]
        auto = [int(a.timestamp() * 1000) for a in c.automated if a <= now]
        for mode, times in (("human", human), ("automated", auto), ("any", human + auto)):
            delay = min(times) - start_ms if times else -1
            firsts[mode].append((delay, now_ms - start_ms, target))
    result["backlog"] = sum(1 for d, _, _ in firsts["any"] if d < 0)
    result["awaiting_human"] = sum(1 for d, _, _ in firsts["human"] if d < 0)
    for mode, rows in firsts.items():
        answered = [d for d, _, _ in rows if d >= 0]
        decided = sum(1 for d, age, _ in rows if d >= 0 or age >= DAY * 1000)
        responded = sum(1 for d, _, _ in rows if 0 <= d <= DAY * 1000)
        target_decided = sum(1 for d, age, target in rows if d >= 0 or age >= target)
        within = sum(1 for d, _, target in rows if 0 <= d <= target)
        result[mode] = {
            "answered": len(answered),
            "responded_24h": responded,
            "decided": decided,
            "pending": len(rows) - decided,
            "rate": responded / decided if decided else None,
            "within_target": within / target_decided if target_decided else None,
            "p50_seconds": rank(answered, 50),
            "p90_seconds": rank(answered, 90),
        }
    return result


def all_conversations(keys: list[list[GenConversation]]) -> list[GenConversation]:
    return [c for chain in keys for c in chain]


def group(report: dict[str, Any], platform: str | None, channel: str | None = None) -> dict[str, Any]:
    account = ACCOUNT_OF[platform] if platform and channel else None
    found = [
        g
        for g in report["groups"]
        if (g["platform"], g["account"], g["channel"]) == (platform, account, channel)
    ]
    assert len(found) == 1, [(g["platform"], g["account"], g["channel"]) for g in report["groups"]]
    return found[0]


def test_stats_json_reproduces_rates_and_percentiles_exactly(
    history: tuple[Path, list[list[GenConversation]]], capsys: pytest.CaptureFixture[str]
) -> None:
    config, keys = history
    report = run_stats(config, capsys)
    convs = all_conversations(keys)
    assert [w["name"] for w in report["windows"]] == ["24h", "7d", "30d"]
    windows = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
    checked = 0
    groups = [(None, None), ("facebook", None), ("x", None), ("telegram", None)]
    groups += [("facebook", "direct"), ("facebook", "comment"), ("x", "mention"), ("telegram", "group")]
    for platform, channel in groups:
        subset = [c for c in convs if platform in (None, c.platform) and channel in (None, c.channel)]
        figures = group(report, platform, channel)
        for name, window in windows.items():
            assert figures["windows"][name] == expected(subset, window), (platform, channel, name)
            checked += 1
    assert checked == 24
    thirty = group(report, None)["windows"]["30d"]
    assert thirty["conversations"] > 7000  # the history really is in the window
    assert 0 < thirty["human"]["rate"] < 1 and thirty["any"]["pending"] > 0 and thirty["backlog"] > 0
    assert group(report, "facebook", "direct")["target_seconds"] == 900


def test_days_option_reports_one_window_and_a_daily_trend(
    history: tuple[Path, list[list[GenConversation]]], capsys: pytest.CaptureFixture[str]
) -> None:
    config, keys = history
    report = run_stats(config, capsys, "--days", "14")
    convs = all_conversations(keys)
    assert [w["name"] for w in report["windows"]] == ["14d"]
    assert group(report, None)["windows"]["14d"] == expected(convs, timedelta(days=14))
    days = report["daily"]
    assert len(days) == 15 and days[-1]["day"] == NOW.date().isoformat()
    assert sum(d["conversations"] for d in days) == group(report, None)["windows"]["14d"]["conversations"]
    day = days[3]
    on_day = [c for c in convs if c.start.date().isoformat() == day["day"]]
    assert day["conversations"] == len(on_day)
    figures = expected(on_day, timedelta(days=400))
    assert (day["p50_seconds"], day["p90_seconds"]) == (
        figures["any"]["p50_seconds"],
        figures["any"]["p90_seconds"],
    )
    assert day["human_p50_seconds"] == figures["human"]["p50_seconds"]
    distribution = report["distribution"]
    assert sum(distribution["any"]) + distribution["any_unanswered"] == len(
        [c for c in convs if NOW - timedelta(days=14) < c.start <= NOW]
    )


def test_text_report_names_groups_and_the_badge(
    history: tuple[Path, list[list[GenConversation]]], capsys: pytest.CaptureFixture[str]
) -> None:
    config, _ = history
    capsys.readouterr()
    assert main(["--config", str(config), "stats", "--at", NOW.isoformat()]) == 0
    out = capsys.readouterr().out
    assert "facebook/acme-page/direct" in out and "x/acme/mention" in out
    assert "Messenger badge for acme-page:" in out


def at(minutes: float) -> datetime:
    return START + timedelta(minutes=minutes)


def msg(mid: int, minutes: float, platform: str = "x", channel: str = "mention") -> CustomerMessage:
    return CustomerMessage(mid, platform, channel, 1, 1, at(minutes))


def test_conversation_rules_per_platform() -> None:
    human = Response(1, 1, at(10), human=True)
    robot = Response(1, 1, at(1), human=False)
    # X: a message after a person answered starts a new conversation; an automated reply does not.
    convs = segment([msg(1, 0), msg(2, 5), msg(3, 20)], [robot, human])
    assert [(c.message_id, c.message_count) for c in convs] == [(1, 2), (3, 1)]
    assert convs[0].first_human_at == at(10) and convs[0].first_automated_at == at(1)
    # Messenger: only 24 hours of silence (on either side) start a new one, as Meta counts.
    messenger = [msg(1, 0, "facebook", "direct"), msg(2, 20, "facebook", "direct")]
    convs = segment([*messenger, msg(3, 20 + 24 * 60, "facebook", "direct")], [human])
    assert [(c.message_id, c.message_count) for c in convs] == [(1, 2), (3, 1)]
    # A response at the very moment of a message counts first.
    assert [c.message_id for c in segment([msg(1, 0), msg(2, 10)], [human])] == [1, 2]


def test_response_targets_come_from_the_policy_when_it_sets_one() -> None:
    class Target:
        def __init__(self, minutes: int, platform: Any = None, channel: Any = None, category: Any = None):
            self.minutes, self.platform, self.channel, self.category = minutes, platform, channel, category

    class Policy:
        class sla:
            targets = (Target(5, category=("complaint",)), Target(30, platform=("x",)))

    assert response_target("x", "mention", Policy()) == (1800, "policy")
    assert response_target("facebook", "direct", Policy()) == (900, "default")
    assert response_target("telegram", "group", None) == (3600, "default")


def _rows(db: Engine) -> list[tuple[Any, ...]]:
    rc = t.response_conversations
    with db.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                select(
                    rc.c.thread_id,
                    rc.c.message_id,
                    rc.c.message_count,
                    rc.c.account_id,
                    rc.c.human_ms,
                    rc.c.automated_ms,
                ).order_by(rc.c.thread_id, rc.c.started_at)
            )
        ]


def test_incremental_updates_match_a_rebuild(db: Engine) -> None:
    """Batches of processed messages and sends one by one, in time order, give what a rebuild gives."""
    keys = generate(seed=7, conversations=300, start=START, span=timedelta(days=6))
    store(db, keys, NOW)
    with db.connect() as conn:
        messages = conn.execute(select(t.messages.c.id, t.messages.c.created_at)).all()
        sends = conn.execute(select(t.outbox.c.id, t.outbox.c.sent_at)).all()
    events = sorted([(r.created_at, 1, r.id) for r in messages] + [(r.sent_at, 0, r.id) for r in sends])
    batch: list[int] = []
    with db.begin() as conn:
        for when, kind, ident in events:
            if kind == 1:
                batch.append(ident)
                if len(batch) == 25:
                    record_customer_messages(conn, batch)
                    batch = []
                continue
            if batch:
                record_customer_messages(conn, batch)
                batch = []
            record_response(conn, ident, when)
        record_customer_messages(conn, batch)
    incremental = _rows(db)
    with db.begin() as conn:
        rebuild(conn)
    assert incremental == _rows(db)
    assert len(incremental) == 300 and {row[3] for row in incremental} == {1, 2, 3}
    with db.connect() as conn:
        report = compute_stats(conn, START + timedelta(days=8), windows_for(10))
    assert group(report, None)["windows"]["10d"] == expected_at(
        all_conversations(keys), START + timedelta(days=8), timedelta(days=10)
    )
