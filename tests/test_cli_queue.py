"""`tactful queue label/resolve/reopen` and `tactful export-labels` on a real database."""

from __future__ import annotations

import getpass
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from storage import tables as t
from tactful.cli import main as tactful_main
from tactful.clock import FrozenClock
from tests.factories import make_message
from tests.queue_helpers import audit_rows, open_item, store


@pytest.fixture
def cli_db(db: Engine, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Engine:
    """The `db` database, made the one the command line uses."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TACTFUL_CONFIG", raising=False)
    monkeypatch.setenv("TACTFUL_STORAGE__URL", db_url)
    monkeypatch.setattr(getpass, "getuser", lambda: "opsuser")
    return db


def queued(db: Engine, clock: FrozenClock) -> dict[str, int]:
    """Two queued conversations; return item ids by message external id."""
    ids = store(
        db,
        clock.now(),
        make_message("1", 'the app "eats" my\nmessages 😡', thread="a"),
        make_message("2", "love it", thread="b", author_id="2"),
    )
    return {eid: open_item(db, mid, clock.now()) for eid, mid in ids.items()}


def test_label_with_several_labels_and_the_os_user_by_default(
    cli_db: Engine, clock: FrozenClock, capsys: pytest.CaptureFixture[str]
) -> None:
    items = queued(cli_db, clock)
    assert tactful_main(["queue", "label", f"#{items['1']}", "--as", "complaint", "--as", "troll"]) == 0
    out = capsys.readouterr().out
    assert f"#{items['1']} x:1: complaint = complaint" in out
    assert f"#{items['1']} x:1: offensive = offensive" in out
    assert tactful_main(["queue", "label", str(items["1"]), "--as", "not_troll", "--by", "Dana"]) == 0
    assert "offensive = not_offensive (was offensive by opsuser)" in capsys.readouterr().out
    hl = t.human_labels
    with cli_db.connect() as conn:
        rows = conn.execute(select(hl.c.task, hl.c.label, hl.c.actor).order_by(hl.c.task)).all()
    assert [tuple(r) for r in rows] == [
        ("complaint", "complaint", "opsuser"),
        ("offensive", "not_offensive", "Dana"),
    ]


def test_unknown_label_is_refused_with_the_choices(
    cli_db: Engine, clock: FrozenClock, capsys: pytest.CaptureFixture[str]
) -> None:
    items = queued(cli_db, clock)
    with pytest.raises(SystemExit) as exc:
        tactful_main(["queue", "label", str(items["1"]), "--as", "rude"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'rude'" in err
    assert "'complaint', 'not_complaint', 'troll', 'not_troll', 'negative', 'neutral', 'positive'" in err


def test_unknown_item_and_conflicts_are_reported_without_a_traceback(
    cli_db: Engine, clock: FrozenClock, capsys: pytest.CaptureFixture[str]
) -> None:
    items = queued(cli_db, clock)
    assert tactful_main(["queue", "resolve", "999"]) == 1
    assert capsys.readouterr().err == "tactful: review item #999 does not exist\n"
    assert tactful_main(["queue", "label", "999", "--as", "positive"]) == 1
    assert "#999 does not exist" in capsys.readouterr().err
    assert tactful_main(["queue", "reopen", str(items["2"])]) == 1
    assert "is open, not resolved" in capsys.readouterr().err


def test_resolve_with_a_note_then_reopen(
    cli_db: Engine, clock: FrozenClock, capsys: pytest.CaptureFixture[str]
) -> None:
    item = queued(cli_db, clock)["1"]
    assert tactful_main(["queue", "resolve", str(item), "--note", "refund sent", "--by", "alice"]) == 0
    assert capsys.readouterr().out == f"#{item} resolved by alice\n"
    r = t.review_items
    with cli_db.connect() as conn:
        row = conn.execute(
            select(r.c.status, r.c.resolved_by, r.c.resolution_note).where(r.c.id == item)
        ).one()
    assert tuple(row) == ("resolved", "alice", "refund sent")
    assert tactful_main(["queue", "resolve", str(item)]) == 1
    assert "already resolved (by alice" in capsys.readouterr().err
    assert tactful_main(["queue", "reopen", str(item)]) == 0
    assert [(e["actor"], e["action"]) for e in audit_rows(cli_db, "queue.")] == [
        ("alice", "queue.resolve"),
        ("opsuser", "queue.reopen"),
    ]


def test_export_labels_writes_sorted_json_lines_and_counts_on_stderr(
    cli_db: Engine, clock: FrozenClock, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    items = queued(cli_db, clock)
    assert tactful_main(["queue", "label", str(items["2"]), "--as", "not_complaint", "--as", "positive"]) == 0
    assert tactful_main(["queue", "label", str(items["1"]), "--as", "complaint"]) == 0
    capsys.readouterr()
    out = tmp_path / "complaints.jsonl"
    assert tactful_main(["export-labels", "--task", "complaint", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"exported 2 complaint labels to {out}\n"
    with out.open(encoding="utf-8") as lines:
        rows = [json.loads(line) for line in lines]
    assert rows == [
        {"id": "x:1", "text": 'the app "eats" my\nmessages 😡', "label": "complaint"},
        {"id": "x:2", "text": "love it", "label": "not_complaint"},
    ]

    assert tactful_main(["export-labels", "--task", "sentiment", "--out", "-"]) == 0
    captured = capsys.readouterr()
    assert [json.loads(line) for line in captured.out.splitlines()] == [
        {"id": "x:2", "text": "love it", "label": "positive"}
    ]
    assert captured.err == "exported 1 sentiment labels to -\n"

    # Labels were given at the real time of the commands, long before this date.
    later = datetime(2100, 1, 1, tzinfo=UTC).date().isoformat()
    assert tactful_main(["export-labels", "--task", "complaint", "--out", str(out), "--since", later]) == 0
    assert out.read_text(encoding="utf-8") == ""
    assert capsys.readouterr().err.startswith("exported 0 complaint labels")


def test_bad_since_and_task_are_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        tactful_main(["export-labels", "--task", "complaint", "--out", "x.jsonl", "--since", "yesterday"])
    assert "not an ISO date: 'yesterday'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        tactful_main(["export-labels", "--task", "troll", "--out", "x.jsonl"])
    assert "invalid choice: 'troll'" in capsys.readouterr().err


def test_without_an_os_user_name_asks_for_by(
    cli_db: Engine, clock: FrozenClock, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    item = queued(cli_db, clock)["1"]

    def no_user() -> str:
        raise OSError("No username set in the environment")

    monkeypatch.setattr(getpass, "getuser", no_user)
    assert tactful_main(["queue", "resolve", str(item)]) == 2
    assert "pass --by NAME" in capsys.readouterr().err
    assert tactful_main(["queue", "resolve", str(item), "--by", "alice"]) == 0
