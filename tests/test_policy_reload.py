"""Policy hot reload: settled, valid changes swap in; invalid ones are rejected once and recorded."""

from __future__ import annotations

import argparse
import logging
import os
import pwd
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text

from moderation.classifier import Moderator
from policies.loader import load_policies
from storage import tables as t
from storage.ingest import store_fetch
from storage.migrate import downgrade, upgrade
from storage.policy_versions import list_versions
from tactful.cli_policy import cmd_policy_check
from tactful.clock import FrozenClock
from tactful.policy_files import read_policy_files
from tactful.policy_source import PolicyChange, PolicySource
from tactful.processing import Processor
from tactful.service import Service, build_service
from tactful.settings import PolicySettings, Settings, StorageSettings
from tests.factories import make_message

POLICY = """\
version: 1
brand: {{name: Acme}}
rules:
  - id: complaint
    when: {{category: [complaint]}}
    then:
      - acknowledge: ack
  - id: rest
    then:
      - queue: {{priority: 10, reason: "read"}}
templates:
  ack:
    en: ["Sorry {{first_name}}, {words}."]
"""

FIRST = POLICY.format(words="version one")
#: A template the rule asks for does not exist: a schema error.
MISSING_TEMPLATE = FIRST.replace("acknowledge: ack", "acknowledge: ack_gone")
#: A language code the detector never reports: an error of `policy check`'s lint stage.
BAD_LANGUAGE = FIRST.replace("{category: [complaint]}", "{category: [complaint], language: [xq]}")
#: A template no rule uses: a warning only.
UNUSED_TEMPLATE = FIRST + '  spare:\n    en: ["Spare text."]\n'


def write(path: Path, text: str) -> None:
    """Replace the file in one step, as editors and deploy tools do (a new inode each time)."""
    temporary = path.with_suffix(".tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "policy.yaml"
    write(path, FIRST)
    return path


def settle(source: PolicySource) -> PolicyChange | None:
    """Two checks: the first sees the change, the second finds it unchanged and acts on it."""
    assert source.check() is None
    return source.check()


def test_a_valid_change_is_put_in_force_once_it_has_settled(policy_file: Path, clock: FrozenClock) -> None:
    source = PolicySource(policy_file, clock=clock, check_seconds=2)
    first = source.current()
    assert source.check() is None  # nothing changed
    write(policy_file, POLICY.format(words="version two"))
    assert source.check() is None
    assert source.current() is first, "a change is not used before the next check finds it unchanged"
    change = source.check()
    assert change is not None and change.status == "active"
    new = source.current()
    assert new.version == load_policies([policy_file]).version != first.version
    assert change.previous == first.version
    assert change.facts.version == new.version
    assert change.facts.content_hash is not None and change.facts.content_hash[:12] == new.version
    assert change.facts.author == pwd.getpwuid(os.getuid()).pw_name
    assert source.check() is None, "a change is handed over once"


def test_a_file_caught_half_written_is_never_put_in_force(policy_file: Path, clock: FrozenClock) -> None:
    source = PolicySource(policy_file, clock=clock, check_seconds=2)
    complete = POLICY.format(words="version two")
    # The first half of the file is a valid policy on its own (only the rules, no templates used).
    write(policy_file, complete.split("templates:")[0].replace("- acknowledge: ack", "- ignore: later"))
    assert source.check() is None
    write(policy_file, complete)
    assert source.check() is None, "contents that changed since the last check wait for one more"
    change = source.check()
    assert change is not None and change.status == "active"
    assert source.current().version == load_policies([policy_file]).version


def test_checks_run_only_when_due_on_the_injected_clock(policy_file: Path, clock: FrozenClock) -> None:
    source = PolicySource(policy_file, clock=clock, check_seconds=2)
    old = source.current().version
    write(policy_file, POLICY.format(words="version two"))
    assert source.check_if_due() is None  # first check: sees the change
    assert source.check_if_due() is None  # not due: the file is not even looked at
    clock.advance(1.9)
    assert source.latest().version == old
    clock.advance(0.1)
    assert source.latest().version != old
    assert PolicySource(policy_file, clock=clock).check_if_due() is None, "0 seconds: never checks"


def test_an_invalid_change_keeps_the_old_policy_and_is_logged_once(
    policy_file: Path,
    clock: FrozenClock,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = PolicySource(policy_file, clock=clock, check_seconds=2)
    good = source.current()
    write(policy_file, MISSING_TEMPLATE)
    with caplog.at_level(logging.INFO, logger="tactful.policy_source"):
        change = settle(source)
        for _ in range(5):
            assert source.check() is None
    assert change is not None and change.status == "rejected"
    assert source.current() is good
    assert cmd_policy_check(argparse.Namespace(files=[policy_file], strict=False)) == 1
    printed = [line for line in capsys.readouterr().out.splitlines() if ": error: " in line]
    assert list(change.errors) == printed, "the same file:line:col lines as tactful policy check"
    assert change.facts.version == read_policy_files([policy_file]).version
    assert change.previous == good.version
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and printed[0] in errors[0].getMessage()

    write(policy_file, POLICY.format(words="version three"))
    fixed = settle(source)
    assert fixed is not None and fixed.status == "active"
    assert source.current().version == load_policies([policy_file]).version


def test_errors_of_the_lint_stage_block_a_change_and_warnings_do_not(
    policy_file: Path, clock: FrozenClock
) -> None:
    source = PolicySource(policy_file, clock=clock, check_seconds=2)
    good = source.current()
    write(policy_file, BAD_LANGUAGE)
    rejected = settle(source)
    assert rejected is not None and rejected.status == "rejected"
    assert "'xq' is not an ISO 639-1 language code" in rejected.error_text
    assert source.current() is good
    write(policy_file, UNUSED_TEMPLATE)
    accepted = settle(source)
    assert accepted is not None and accepted.status == "active"
    assert accepted.warnings == 1


def test_returning_to_the_version_in_force_changes_nothing(policy_file: Path, clock: FrozenClock) -> None:
    source = PolicySource(policy_file, clock=clock, check_seconds=2)
    good = source.current()
    original = policy_file.read_text(encoding="utf-8")
    write(policy_file, MISSING_TEMPLATE)
    assert settle(source) is not None
    write(policy_file, original)
    assert settle(source) is None
    assert source.current() is good


def test_a_deleted_file_is_rejected_and_the_policy_keeps_running(
    policy_file: Path, clock: FrozenClock
) -> None:
    source = PolicySource(policy_file, clock=clock, check_seconds=2)
    good = source.current()
    policy_file.unlink()
    change = settle(source)
    assert change is not None and change.status == "rejected"
    assert change.errors == (f"{policy_file}:1:1: error: (file): cannot read: No such file or directory",)
    assert source.current() is good


def test_a_changed_layer_swaps_the_layered_policy(policy_file: Path, clock: FrozenClock) -> None:
    override = policy_file.with_name("override.yaml")
    write(override, "brand: {name: Acme One}\n")
    source = PolicySource([policy_file, override], clock=clock, check_seconds=2)
    assert source.current().brand_name == "Acme One"
    write(override, "brand: {name: Acme Two}\n")
    change = settle(source)
    assert change is not None and change.status == "active"
    assert source.current().brand_name == "Acme Two"
    assert source.current().version == load_policies([policy_file, override]).version
    assert source.current().source == f"{policy_file} + {override}"


def test_a_worker_starts_from_the_policy_in_force_not_from_a_bad_file(
    policy_file: Path, clock: FrozenClock
) -> None:
    in_force = read_policy_files([policy_file])
    write(policy_file, MISSING_TEMPLATE)
    with pytest.raises(Exception, match="ack_gone"):
        PolicySource(policy_file)
    worker = PolicySource(policy_file, clock=clock, check_seconds=2, worker="worker 0/1", start_from=in_force)
    assert worker.current().version == in_force.version
    change = settle(worker)
    assert change is not None and change.status == "rejected"
    assert worker.current().version == in_force.version


@pytest.fixture
def service(tmp_path: Path, policy_file: Path, clock: FrozenClock, sqlite_url: str) -> Iterator[Service]:
    settings = Settings(storage=StorageSettings(url=sqlite_url), policy=PolicySettings(path=policy_file))
    built = build_service(settings, clock=clock, scoring=Moderator())
    yield built
    built.close()


def versions(db: Engine) -> dict[str, tuple[str, object, str | None]]:
    with db.connect() as conn:
        return {row.version: (row.status, row.activated_at, row.errors) for row in list_versions(conn)}


def test_the_service_records_every_version_and_rejection(
    service: Service, policy_file: Path, clock: FrozenClock
) -> None:
    first = service.policy.current().version
    assert versions(service.db) == {first: ("active", clock.now(), None)}, "recorded at start-up"
    started = clock.now()

    write(policy_file, POLICY.format(words="version two"))
    assert service.reload_policy() is None
    clock.advance(2)
    assert service.reload_policy() is not None
    second = service.policy.current().version
    write(policy_file, MISSING_TEMPLATE)
    service.reload_policy()
    clock.advance(2)
    rejected = service.reload_policy()
    assert rejected is not None
    write(policy_file, FIRST)  # back to the first version
    service.reload_policy()
    clock.advance(2)
    service.reload_policy()

    found = versions(service.db)
    assert service.policy.current().version == first
    assert found[first] == ("active", clock.now(), None), "a revert moves activated_at on"
    assert found[second] == ("active", started + timedelta(seconds=2), None)
    assert found[rejected.facts.version] == ("rejected", None, rejected.error_text)
    with service.db.connect() as conn:
        row = conn.execute(
            select(t.policy_versions.c.author, t.policy_versions.c.content_hash).where(
                t.policy_versions.c.version == second
            )
        ).one()
        audit = [
            (r.action, r.subject_id)
            for r in conn.execute(
                select(t.audit_log.c.action, t.audit_log.c.subject_id).order_by(t.audit_log.c.id)
            )
        ]
    assert row.author == pwd.getpwuid(os.getuid()).pw_name and row.content_hash[:12] == second
    assert audit == [
        ("policy.active", second),
        ("policy.rejected", rejected.facts.version),
        ("policy.active", first),
    ]


def test_each_batch_is_decided_under_one_version_and_cites_it(
    db: Engine, policy_file: Path, clock: FrozenClock
) -> None:
    source = PolicySource(policy_file, clock=clock, check_seconds=2)
    processor = Processor(db, Moderator(), source.latest, clock)
    complaint = "@acme my order never arrived and I want a refund"
    store_fetch(db, "k", [make_message("1", complaint, author_id="1")], "1", [], clock.now())
    assert processor.drain(10) == 1
    old = source.current().version
    write(policy_file, POLICY.format(words="version two"))
    source.check()
    clock.advance(2)
    store_fetch(db, "k", [make_message("2", complaint, author_id="2")], "2", [], clock.now())
    assert processor.drain(10) == 1  # the batch asked for the policy: the change was due and settled
    new = source.current().version
    assert new != old
    m, d, o = t.messages, t.decisions, t.outbox
    with db.connect() as conn:
        cited = dict(
            conn.execute(select(m.c.external_id, d.c.policy_version).join(d, d.c.message_id == m.c.id)).all()
        )
        texts = dict(conn.execute(select(o.c.target_external_id, o.c.text)).all())
        recorded = {row.version for row in list_versions(conn)}
    assert cited == {"1": old, "2": new}
    assert "version one" in texts["1"] and "version two" in texts["2"]
    assert recorded == {old, new}


def test_versions_recorded_before_the_migration_count_as_active(db: Engine, clock: FrozenClock) -> None:
    downgrade(db, "0009_policy_replays")
    with db.begin() as conn:
        conn.execute(
            text("INSERT INTO policy_versions (version, path, loaded_at) VALUES ('abc', 'p.yaml', :at)"),
            {"at": clock.now().replace(tzinfo=None)},
        )
    upgrade(db)
    with db.connect() as conn:
        [row] = list_versions(conn)
    assert (row.version, row.status, row.activated_at, row.errors) == ("abc", "active", clock.now(), None)
