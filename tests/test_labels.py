"""People's labels from the review queue, queue actions, and training-file export (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from storage import tables as t
from storage.labels import TrainingExample, export_labels, labels_for_message, write_training_file
from storage.queue_actions import (
    QueueActionError,
    QueueConflict,
    ReviewItemNotFound,
    claim_item,
    label_item,
    release_item,
    reopen_item,
    resolve_item,
)
from tactful.clock import FrozenClock
from tactful.domain import Platform
from tactful.labels import QUEUE_LABELS, TASK_LABELS, LabelTask, parse_queue_label, parse_task
from tests.factories import make_message
from tests.queue_helpers import audit_rows, open_item, store

ALLOWED = "allowed: complaint, not_complaint, troll, not_troll, negative, neutral, positive"
TRICKY = 'line one\nline two\r\nsaid "no" \\ back\tslash — ünïcödé 🙃 عربى\u2028sep\u2029par\x85nel'


def one_item(db: Engine, clock: FrozenClock, text: str = "my order is late") -> tuple[int, int]:
    ids = store(db, clock.now(), make_message("1", text))
    return open_item(db, ids["1"], clock.now()), ids["1"]


def item_row(db: Engine, item_id: int) -> dict[str, object]:
    r = t.review_items
    with db.connect() as conn:
        return dict(conn.execute(select(r).where(r.c.id == item_id)).one()._mapping)


def count(db: Engine, table: t.Table) -> int:
    with db.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_every_queue_label_is_a_training_label_of_its_task() -> None:
    for name, label in QUEUE_LABELS.items():
        assert label.label in TASK_LABELS[label.task], name
    assert parse_queue_label("troll").task is LabelTask.OFFENSIVE
    assert parse_queue_label(" Not_Troll ").label == "not_offensive"
    with pytest.raises(ValueError, match="allowed: complaint, offensive, sentiment"):
        parse_task("toxicity")


def test_a_later_label_replaces_the_earlier_one_per_task_and_audit_keeps_both(
    db: Engine, clock: FrozenClock
) -> None:
    item, message = one_item(db, clock)
    first = label_item(db, item, ["complaint", "negative"], "alice", clock.now())
    assert [(a.task, a.label, a.previous_label) for a in first] == [
        (LabelTask.COMPLAINT, "complaint", None),
        (LabelTask.SENTIMENT, "negative", None),
    ]
    clock.advance(60)
    [second] = label_item(db, item, ["not_complaint"], "bob", clock.now())
    assert (second.previous_label, second.previous_actor) == ("complaint", "alice")
    assert second.message_ref == "x:1"

    with db.connect() as conn:
        labels = labels_for_message(conn, message)
    assert {task: (s.label, s.actor) for task, s in labels.items()} == {
        LabelTask.COMPLAINT: ("not_complaint", "bob"),
        LabelTask.SENTIMENT: ("negative", "alice"),
    }
    assert labels[LabelTask.COMPLAINT].created_at == clock.now()
    assert count(db, t.human_labels) == 2
    history = [
        (row["actor"], row["detail"]["task"], row["detail"]["label"], row["detail"]["previous_label"])
        for row in audit_rows(db, "label.")
    ]
    assert history == [
        ("alice", "complaint", "complaint", None),
        ("alice", "sentiment", "negative", None),
        ("bob", "complaint", "not_complaint", "complaint"),
    ]
    assert all(row["subject_id"] == str(message) for row in audit_rows(db, "label."))


def test_troll_is_stored_as_offensive(db: Engine, clock: FrozenClock) -> None:
    item, _ = one_item(db, clock, "you are all idiots")
    [applied] = label_item(db, item, ["troll"], "alice", clock.now())
    assert (applied.given_as, applied.task, applied.label) == ("troll", LabelTask.OFFENSIVE, "offensive")
    with db.connect() as conn:
        assert export_labels(conn, LabelTask.OFFENSIVE) == [
            TrainingExample("x:1", "you are all idiots", "offensive")
        ]
        assert export_labels(conn, LabelTask.COMPLAINT) == []
    assert audit_rows(db, "label.")[0]["detail"]["given_as"] == "troll"


@pytest.mark.parametrize("labels", [["trolling"], ["complaint", "angry"], []])
def test_unknown_labels_are_refused_with_the_allowed_ones_and_nothing_is_written(
    db: Engine, clock: FrozenClock, labels: list[str]
) -> None:
    item, _ = one_item(db, clock)
    match = ALLOWED if labels else "at least one label"
    with pytest.raises(ValueError, match=match):
        label_item(db, item, labels, "alice", clock.now())
    assert count(db, t.human_labels) == 0
    assert audit_rows(db) == []


def test_two_labels_of_one_task_in_one_action_are_refused(db: Engine, clock: FrozenClock) -> None:
    item, _ = one_item(db, clock)
    with pytest.raises(ValueError, match="troll and not_troll are both offensive labels"):
        label_item(db, item, ["troll", "not_troll"], "alice", clock.now())
    assert count(db, t.human_labels) == 0
    assert len(label_item(db, item, ["troll", "TROLL"], "alice", clock.now())) == 1


def test_unknown_item_is_a_clear_error(db: Engine, clock: FrozenClock) -> None:
    one_item(db, clock)
    for action in (
        lambda: label_item(db, 999, ["complaint"], "alice", clock.now()),
        lambda: resolve_item(db, 999, "alice", clock.now()),
        lambda: reopen_item(db, 999, "alice", clock.now()),
        lambda: claim_item(db, 999, "alice", clock.now()),
    ):
        with pytest.raises(ReviewItemNotFound, match=r"review item #999 does not exist"):
            action()
    assert issubclass(ReviewItemNotFound, LookupError)
    assert audit_rows(db) == []


def test_actor_and_note_are_checked(db: Engine, clock: FrozenClock) -> None:
    item, _ = one_item(db, clock)
    with pytest.raises(ValueError, match="actor name is required"):
        resolve_item(db, item, "  ", clock.now())
    with pytest.raises(ValueError, match="longer than 128"):
        label_item(db, item, ["complaint"], "a" * 129, clock.now())
    with pytest.raises(ValueError, match="note is longer than 2000"):
        resolve_item(db, item, "alice", clock.now(), note="x" * 2001)
    assert item_row(db, item)["status"] == "open"


def test_resolve_and_reopen_record_who_when_and_why(db: Engine, clock: FrozenClock) -> None:
    item, _ = one_item(db, clock)
    clock.advance(300)
    resolved_at = clock.now()
    state = resolve_item(db, item, "alice", resolved_at, note="  refunded \n")
    assert (state.status, state.resolved_by, state.resolved_at, state.resolution_note) == (
        "resolved",
        "alice",
        resolved_at,
        "refunded",
    )
    assert item_row(db, item)["updated_at"] == resolved_at
    with pytest.raises(QueueConflict, match=r"already resolved \(by alice at 2026-01-05T09:05:00"):
        resolve_item(db, item, "bob", clock.now())

    clock.advance(60)
    reopened = reopen_item(db, item, "bob", clock.now(), note="customer wrote back")
    assert (reopened.status, reopened.resolved_by, reopened.resolved_at, reopened.resolution_note) == (
        "open",
        None,
        None,
        None,
    )
    with pytest.raises(QueueConflict, match="is open, not resolved"):
        reopen_item(db, item, "bob", clock.now())

    entries = audit_rows(db, "queue.")
    assert [(e["actor"], e["action"], e["subject_type"], e["subject_id"]) for e in entries] == [
        ("alice", "queue.resolve", "review_item", str(item)),
        ("bob", "queue.reopen", "review_item", str(item)),
    ]
    assert entries[0]["detail"] == {"note": "refunded", "previous_status": "open"}
    assert entries[1]["detail"] == {
        "note": "customer wrote back",
        "resolved_by": "alice",
        "resolved_at": resolved_at.isoformat(),
        "resolution_note": "refunded",
    }


def test_reopen_is_refused_while_a_newer_item_of_the_thread_waits(db: Engine, clock: FrozenClock) -> None:
    ids = store(db, clock.now(), make_message("1", thread="t"), make_message("2", thread="t", minutes=5))
    old = open_item(db, ids["1"], clock.now())
    resolve_item(db, old, "alice", clock.now())
    newer = open_item(db, ids["2"], clock.now())
    with pytest.raises(QueueConflict, match=rf"already waits in review item #{newer}"):
        reopen_item(db, old, "alice", clock.now())
    assert item_row(db, old)["status"] == "resolved"


def test_claim_release_and_resolve_a_claimed_item(db: Engine, clock: FrozenClock) -> None:
    item, _ = one_item(db, clock)
    assert (claim_item(db, item, "alice", clock.now()).assignee, item_row(db, item)["status"]) == (
        "alice",
        "claimed",
    )
    with pytest.raises(QueueConflict, match="already claimed by alice"):
        claim_item(db, item, "bob", clock.now())
    released = release_item(db, item, "bob", clock.now())
    assert (released.status, released.assignee) == ("open", None)
    with pytest.raises(QueueConflict, match="is open, not claimed"):
        release_item(db, item, "bob", clock.now())
    claim_item(db, item, "bob", clock.now())
    assert resolve_item(db, item, "bob", clock.now()).status == "resolved"
    with pytest.raises(QueueConflict, match="is resolved; reopen it first"):
        claim_item(db, item, "carol", clock.now())
    assert [e["action"] for e in audit_rows(db, "queue.")] == [
        "queue.claim",
        "queue.release",
        "queue.claim",
        "queue.resolve",
    ]
    assert audit_rows(db, "queue.release")[0]["detail"] == {"previous_assignee": "alice"}


def test_labels_a_chosen_message_of_the_conversation_only(db: Engine, clock: FrozenClock) -> None:
    ids = store(
        db,
        clock.now(),
        make_message("1", "first", thread="t"),
        make_message("2", "second", thread="t", minutes=1),
        make_message("3", "elsewhere", thread="u", author_id="7"),
    )
    item = open_item(db, ids["2"], clock.now())
    [applied] = label_item(db, item, ["positive"], "alice", clock.now(), message_id=ids["1"])
    assert (applied.message_id, applied.message_ref) == (ids["1"], "x:1")
    before = item_row(db, item)
    clock.advance(60)
    with pytest.raises(QueueActionError, match=rf"message {ids['3']} is not part of review item #{item}"):
        label_item(db, item, ["negative"], "alice", clock.now(), message_id=ids["3"])
    # The refused action changed nothing: not the item, not the labels, not the audit log.
    assert item_row(db, item) == before
    assert count(db, t.human_labels) == 1
    assert len(audit_rows(db)) == 1


def test_labels_on_a_resolved_item_are_allowed(db: Engine, clock: FrozenClock) -> None:
    item, _ = one_item(db, clock)
    resolve_item(db, item, "alice", clock.now())
    assert label_item(db, item, ["not_troll"], "alice", clock.now())[0].label == "not_offensive"
    assert item_row(db, item)["status"] == "resolved"


def test_export_round_trips_through_a_file_another_program_reads_line_by_line(
    db: Engine, clock: FrozenClock, tmp_path: Path
) -> None:
    texts = {"10": TRICKY, "11": "plain", "12": '{"id": "fake", "label": "x"}\n', "13": "not labelled"}
    ids = store(
        db,
        clock.now(),
        *(
            make_message(eid, text, thread=f"t{eid}", platform=Platform.TELEGRAM, author_id=eid)
            for eid, text in texts.items()
        ),
    )
    items = {eid: open_item(db, ids[eid], clock.now()) for eid in texts}
    # Labelled out of order, one relabelled, one in another task only.
    label_item(db, items["12"], ["not_complaint"], "bob", clock.now())
    label_item(db, items["10"], ["complaint"], "alice", clock.now())
    label_item(db, items["11"], ["complaint"], "alice", clock.now())
    label_item(db, items["11"], ["not_complaint"], "carol", clock.now())
    label_item(db, items["13"], ["neutral"], "carol", clock.now())

    with db.connect() as conn:
        examples = export_labels(conn, LabelTask.COMPLAINT)
    out = tmp_path / "training" / "complaints.jsonl"
    out.parent.mkdir()
    assert write_training_file(out, examples) == 3
    assert list(out.parent.iterdir()) == [out]  # no temporary file left behind
    reader = (
        "import json, sys\n"
        "lines = open(sys.argv[1], 'rb').read().decode('utf-8').splitlines()\n"
        "print(json.dumps([json.loads(line) for line in lines]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", reader, str(out)], capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(done.stdout) == [
        {"id": "telegram:10", "text": TRICKY, "label": "complaint"},
        {"id": "telegram:11", "text": "plain", "label": "not_complaint"},
        {"id": "telegram:12", "text": texts["12"], "label": "not_complaint"},
    ]
    assert "ünïcödé 🙃" in out.read_text(encoding="utf-8")  # readable, not \u-escaped


def test_export_since_keeps_labels_given_from_then_on(db: Engine, clock: FrozenClock) -> None:
    ids = store(db, clock.now(), make_message("1", thread="a"), make_message("2", thread="b", author_id="2"))
    first, second = open_item(db, ids["1"], clock.now()), open_item(db, ids["2"], clock.now())
    label_item(db, first, ["positive"], "alice", clock.now())
    label_item(db, second, ["negative"], "alice", clock.now())
    since = clock.advance(timedelta(days=1))
    label_item(db, second, ["neutral"], "bob", clock.now())  # relabelled later: counts as new
    with db.connect() as conn:
        assert [e.id for e in export_labels(conn, LabelTask.SENTIMENT)] == ["x:1", "x:2"]
        assert export_labels(conn, LabelTask.SENTIMENT, since=since) == [
            TrainingExample("x:2", "hello", "neutral")
        ]


def test_a_lone_surrogate_is_escaped_so_the_line_is_still_valid_utf8() -> None:
    example = TrainingExample("x:1", "broken \ud83d half", "complaint")
    line = example.to_json_line()
    line.encode("utf-8")
    assert json.loads(line)["text"] == example.text
