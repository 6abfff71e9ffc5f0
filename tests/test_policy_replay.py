"""`tactful policy replay`: stored history re-decided under a changed policy, nothing sent, the changes reported.

The history is built by the real pipeline (Processor, default policy) from scripted verdicts.
The replay's answers are checked against the pipeline itself: the same messages processed from
scratch under the changed policy must get, message by message, the actions the replay reports.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, func, select

from policies.loader import LoadedPolicy, default_policy_path, load_policies
from storage import tables as t
from storage.queue_actions import reply_to_item
from tactful.cli import main
from tactful.clock import FrozenClock
from tactful.replay import Replayer, replay_policy
from tactful.replay_report import action_name
from tests.factories import BASE_TIME, make_message
from tests.replay_helpers import CHANGES, ROUTES, build, changed_policy, process


def normalised(actions: Any) -> Any:
    """Actions as stored (through JSON), so replayed and stored ones compare alike."""
    return orjson.loads(orjson.dumps(actions))


def stored_decisions(db: Engine) -> dict[str, tuple[str, Any]]:
    m, d = t.messages, t.decisions
    with db.connect() as conn:
        rows = conn.execute(
            select(m.c.external_id, d.c.rule_id, d.c.actions).join(d, d.c.message_id == m.c.id)
        ).all()
    return {external_id: (rule_id, normalised(actions)) for external_id, rule_id, actions in rows}


def replayed(db: Engine, loaded: LoadedPolicy, since: datetime | None = None) -> dict[str, tuple[str, Any]]:
    return {
        item.row.message.external_id: (item.rule_id, normalised(item.actions))
        for item in Replayer(loaded, ROUTES).run(db, since)
    }


def kinds(actions: Any) -> list[str]:
    """Action kinds of stored actions ({"type": "Acknowledge"…}) or reported ones ({"action": "acknowledge"…})."""
    return sorted(action.get("action") or action_name(action) for action in actions)


def snapshot(db: Engine) -> tuple[Any, ...]:
    """Everything a replay must leave alone."""
    with db.connect() as conn:
        return tuple(
            tuple(conn.execute(select(table).order_by(*table.primary_key.columns)).all())
            for table in (t.messages, t.threads, t.outbox, t.decisions, t.review_items, t.authors)
        )


@pytest.fixture
def history(db: Engine) -> Engine:
    build(db, load_policies([default_policy_path()]))
    return db


def test_replaying_under_the_same_policy_reproduces_every_stored_decision(history: Engine) -> None:
    loaded = load_policies([default_policy_path()])
    assert replayed(history, loaded) == stored_decisions(history)
    report = replay_policy(history, loaded, private_routes=ROUTES).report
    assert report["changed"]["total"] == 0
    assert all(c["before"] == c["after"] for c in report["actions"].values())


def test_replay_matches_the_pipeline_rerun_under_the_new_policy_message_by_message(
    history: Engine, tmp_path: Path
) -> None:
    from storage.db import make_engine
    from storage.migrate import upgrade

    new = changed_policy(tmp_path)
    oracle = make_engine(f"sqlite:///{tmp_path / 'oracle.db'}")  # whatever backend holds the history
    upgrade(oracle)
    build(oracle, new)
    expected = stored_decisions(oracle)
    oracle.dispose()
    before = snapshot(history)

    assert replayed(history, new) == expected  # rules, actions, texts and variants alike
    report = replay_policy(history, new, private_routes=ROUTES).report
    rerun = Counter(kind for _rule, actions in expected.values() for kind in kinds(actions))
    assert {kind: c["after"] for kind, c in report["actions"].items() if c["after"]} == dict(rerun)
    assert snapshot(history) == before  # nothing written, nothing sent


def test_the_report_lists_changed_messages_acks_started_and_stopped_and_newly_hidden_trolls(
    history: Engine, tmp_path: Path
) -> None:
    report = replay_policy(history, changed_policy(tmp_path), private_routes=ROUTES).report
    assert report["messages"] == 9
    # Two questions are no longer acknowledged, two praises now are.
    assert report["actions"]["acknowledge"] == {"before": 3, "after": 3}
    started = {e["ref"]: e for e in report["acks_started"]["items"]}
    stopped = {e["ref"]: e for e in report["acks_stopped"]["items"]}
    hidden = {e["ref"] for e in report["trolls_newly_hidden"]["items"]}
    assert set(started) == {"x:3", "x:9"} and report["acks_started"]["total"] == 2
    assert set(stopped) == {"x:2", "x:7"} and report["acks_stopped"]["total"] == 2
    assert hidden == {"x:4", "x:8"} and report["trolls_newly_hidden"]["total"] == 2
    assert {e["ref"] for e in report["changed"]["items"]} == set(started) | set(stopped) | hidden
    praise = started["x:3"]
    assert praise["text"] == "love my new vacuum <b>really</b>"
    assert praise["author"] == "@cat" and praise["category"] == "praise"
    assert praise["before"]["rule"] == "praise" and kinds(praise["before"]["actions"]) == ["queue"]
    ack = next(a for a in praise["after"]["actions"] if a["action"] == "acknowledge")
    assert ack["text"] == "Thank you, Cat! That made our day."
    question = stopped["x:2"]
    assert any(a["action"] == "acknowledge" and "Bob" in a["text"] for a in question["before"]["actions"])
    assert kinds(question["after"]["actions"]) == ["queue"]
    assert report["rules"]["troll"] == {"before": 2, "after": 2}


def test_the_report_keeps_only_the_first_messages_of_each_list_with_the_total(
    history: Engine, tmp_path: Path
) -> None:
    report = replay_policy(history, changed_policy(tmp_path), private_routes=ROUTES, shown=1).report
    assert report["changed"]["total"] == 6
    assert [e["ref"] for e in report["changed"]["items"]] == ["x:2"]
    assert len(report["trolls_newly_hidden"]["items"]) == 1


def test_since_replays_only_the_window_with_the_threads_state_from_before(
    history: Engine, tmp_path: Path
) -> None:
    since = BASE_TIME + timedelta(days=1, hours=1)  # day 0 lies before the window and its day of context
    new = changed_policy(tmp_path)
    window = replayed(history, new, since)
    assert set(window) == {"6", "7", "8", "9"}
    # Ann's thread was acknowledged on day 0 (outside the window and its day of context).
    rule, actions = window["6"]
    assert rule == "complaint" and "acknowledge" not in kinds(actions)
    assert "thread already acknowledged" in json.dumps(actions)
    assert {ref: value for ref, value in replayed(history, new).items() if ref in window} == window
    report = replay_policy(history, new, since=since, private_routes=ROUTES).report
    assert report["messages"] == 4 and report["since"] == since.isoformat()


def test_a_persons_reply_counts_as_the_threads_acknowledgement(db: Engine, tmp_path: Path) -> None:
    clock = FrozenClock(BASE_TIME)
    default = load_policies([default_policy_path()])
    first = make_message("20", "what is this about", author_id="30", username="gil", minutes=0)
    process(db, clock, default, [first])
    with db.connect() as conn:
        item = conn.execute(select(t.review_items.c.id)).scalar_one()
    clock.advance(timedelta(minutes=5))
    reply_to_item(
        db, item, "Hello Gil, happy to explain.", "alice", clock.now(), request_key="replay-test-key-0001"
    )
    later = make_message("21", "thanks, great help", author_id="30", username="gil", thread="20", minutes=10)
    process(db, clock, default, [later])

    rule, actions = replayed(db, changed_policy(tmp_path))["21"]
    assert rule == "praise" and "acknowledge" not in kinds(actions)
    assert "thread already acknowledged" in json.dumps(actions)


def write_config(tmp_path: Path, url: str) -> Path:
    config = tmp_path / "tactful.toml"
    config.write_text(f'[storage]\nurl = "{url}"\n', encoding="utf-8")
    return config


def test_the_command_prints_json_and_stores_the_report(
    history: Engine, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    changes = tmp_path / "changes.yaml"
    changes.write_text(CHANGES, encoding="utf-8")
    config = write_config(tmp_path, db_url)
    before = snapshot(history)
    code = main(
        [
            "--config",
            str(config),
            "policy",
            "replay",
            str(default_policy_path()),
            str(changes),
            "--json",
            "--by",
            "mia",
        ]
    )
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) >= {
        "id", "policy_version", "source", "since", "seconds", "messages", "actions", "rules",
        "changed", "acks_started", "acks_stopped", "trolls_newly_hidden",
    }  # fmt: skip
    assert report["source"] == f"{default_policy_path()} + {changes}"
    assert report["since"] is None and report["messages"] == 9
    assert set(report["actions"]) == {"acknowledge", "move_to_private", "hide", "queue", "ignore"}
    assert report["acks_started"]["total"] == 2
    entry = report["acks_started"]["items"][0]
    assert set(entry) >= {"message_id", "ref", "author", "text", "category", "before", "after"}
    assert snapshot(history) == before
    with history.connect() as conn:
        stored = conn.execute(select(t.policy_replays)).one()
    assert stored.id == report["id"] and stored.actor == "mia"
    assert stored.policy_version == report["policy_version"] and stored.summary["messages"] == 9
    assert stored.source == report["source"] and stored.since is None


def test_the_command_prints_a_table_and_takes_since(
    history: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    changes = tmp_path / "changes.yaml"
    changes.write_text(CHANGES, encoding="utf-8")
    config = write_config(tmp_path, history.url.render_as_string(hide_password=False))
    since = (BASE_TIME + timedelta(days=1, hours=1)).isoformat()
    args = ["--config", str(config), "policy", "replay", str(default_policy_path()), str(changes)]
    assert main([*args, "--since", since]) == 0
    out = capsys.readouterr().out
    assert "policy replay: 4 messages since 2026-01-06T10:00:00+00:00" in out
    assert "Acknowledgements that would now go out: 1" in out
    assert "#" in out and '"love my new vacuum <b>really</b>"' in out
    assert 'acknowledge "Thank you, Fay! That made our day."' in out
    assert "Trolls newly hidden: 1" in out
    assert "stored as replay #1" in out


def test_since_takes_a_span_back_from_now() -> None:
    from tactful.cli_policy import since_value

    now = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    assert since_value("7d", now) == now - timedelta(days=7)
    assert since_value("12h", now) == now - timedelta(hours=12)
    assert since_value("2026-03-01", now) == datetime(2026, 3, 1, tzinfo=UTC)
    with pytest.raises(Exception, match="not a span or an ISO date"):
        since_value("last week", now)


def test_an_invalid_policy_is_reported_like_check_and_nothing_is_replayed(
    sqlite_db: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "rules:\n  - id: oops\n    when: {category: [nonsense]}\n    then:\n      - ignore: x\n",
        encoding="utf-8",
    )
    config = write_config(tmp_path, str(sqlite_db.url))
    code = main(["--config", str(config), "policy", "replay", str(default_policy_path()), str(bad)])
    captured = capsys.readouterr()
    assert code == 1
    assert f"{bad}:3:" in captured.out and "error" in captured.out and "category" in captured.out
    assert "nothing was replayed" in captured.err and "Traceback" not in captured.out + captured.err
    with sqlite_db.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.policy_replays)).scalar_one() == 0
