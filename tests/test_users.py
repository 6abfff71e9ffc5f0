"""Dashboard users: names, roles, argon2 hashes, sessions ended on disable, and the `tactful user` commands."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import Engine, func, select

from storage import tables as t
from storage.sessions import create_session, find_session
from storage.users import (
    UserError,
    UserExists,
    UserNotFound,
    add_user,
    authenticate,
    check_user_name,
    find_user,
    link_telegram,
    set_disabled,
    set_password,
    set_role,
    user_by_telegram_id,
)
from tactful.cli import main
from tactful.clock import FrozenClock
from tactful.roles import Role
from tests.dashboard_helpers import CHEAP_HASHER, PASSWORD
from tests.queue_helpers import audit_rows


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("storage.users.HASHER", CHEAP_HASHER)


def stored_hash(db: Engine, name: str) -> str:
    with db.connect() as conn:
        return str(conn.execute(select(t.users.c.password_hash).where(t.users.c.name == name)).scalar_one())


def session_count(db: Engine) -> int:
    with db.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(t.web_sessions)).scalar_one())


def test_a_user_is_stored_with_an_argon2id_hash_and_never_the_password(
    db: Engine, clock: FrozenClock
) -> None:
    user = add_user(db, "  Alice.Smith ", "manager", PASSWORD, "root", clock.now())
    assert (user.name, user.role, user.disabled, user.telegram_user_id) == (
        "alice.smith",
        Role.MANAGER,
        False,
        None,
    )
    hashed = stored_hash(db, "alice.smith")
    assert hashed.startswith("$argon2id$") and PASSWORD not in hashed
    [entry] = audit_rows(db, "user.")
    assert entry["actor"] == "root" and entry["detail"] == {"role": "manager"}
    with pytest.raises(UserExists):
        add_user(db, "ALICE.SMITH", "agent", PASSWORD, "root", clock.now())


@pytest.mark.parametrize("name", ["", "   ", "-alice", "al ice", "alice<script>", "a" * 49, "álice"])
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError):
        check_user_name(name)


def test_short_passwords_and_unknown_roles_are_refused(db: Engine, clock: FrozenClock) -> None:
    with pytest.raises(ValueError, match="at least 10"):
        add_user(db, "bob", "agent", "123456789", "root", clock.now())
    with pytest.raises(ValueError, match="unknown role"):
        add_user(db, "bob", "boss", PASSWORD, "root", clock.now())
    with db.connect() as conn:
        assert find_user(conn, "bob") is None


def test_authentication(db: Engine, clock: FrozenClock) -> None:
    add_user(db, "alice", "agent", PASSWORD, "root", clock.now())
    assert authenticate(db, "Alice", PASSWORD) is not None
    assert authenticate(db, "alice", PASSWORD + "!") is None
    assert authenticate(db, "nobody", PASSWORD) is None
    assert authenticate(db, "not a name!", PASSWORD) is None
    set_disabled(db, "alice", True, "root", clock.now())
    assert authenticate(db, "alice", PASSWORD) is None


def test_a_hash_made_with_old_parameters_is_upgraded_at_login(
    db: Engine, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_user(db, "alice", "agent", PASSWORD, "root", clock.now())
    old = stored_hash(db, "alice")
    monkeypatch.setattr("storage.users.HASHER", PasswordHasher(time_cost=2, memory_cost=16, parallelism=1))
    assert authenticate(db, "alice", PASSWORD) is not None
    new = stored_hash(db, "alice")
    assert new != old and "m=16,t=2,p=1" in new
    assert authenticate(db, "alice", PASSWORD) is not None


def test_disabling_or_a_new_password_ends_sessions(db: Engine, clock: FrozenClock) -> None:
    alice = add_user(db, "alice", "agent", PASSWORD, "root", clock.now())
    later = clock.now() + timedelta(hours=1)
    with db.begin() as conn:
        create_session(conn, "s1", alice.id, clock.now(), later)
    set_password(db, "alice", "a brand new password", "alice", clock.now())
    assert session_count(db) == 0
    assert authenticate(db, "alice", "a brand new password") is not None
    with db.begin() as conn:
        create_session(conn, "s2", alice.id, clock.now(), later)
    set_disabled(db, "alice", True, "root", clock.now())
    assert session_count(db) == 0
    set_disabled(db, "alice", False, "root", clock.now())
    assert [e["action"] for e in audit_rows(db, "user.")] == [
        "user.add",
        "user.password",
        "user.disable",
        "user.enable",
    ]
    assert all(PASSWORD not in json.dumps(e["detail"]) for e in audit_rows(db))


def test_an_expired_session_or_a_disabled_user_finds_nothing(db: Engine, clock: FrozenClock) -> None:
    alice = add_user(db, "alice", "agent", PASSWORD, "root", clock.now())
    with db.begin() as conn:
        create_session(conn, "s1", alice.id, clock.now(), clock.now() + timedelta(minutes=5))
    with db.connect() as conn:
        assert find_session(conn, "s1", clock.now()) is not None
        assert find_session(conn, "s1", clock.now() + timedelta(minutes=5)) is None


def test_the_last_enabled_admin_stays(db: Engine, clock: FrozenClock) -> None:
    add_user(db, "root", "admin", PASSWORD, "setup", clock.now())
    add_user(db, "alice", "agent", PASSWORD, "setup", clock.now())
    with pytest.raises(UserError, match="last enabled admin"):
        set_role(db, "root", "manager", "root", clock.now())
    with pytest.raises(UserError, match="last enabled admin"):
        set_disabled(db, "root", True, "root", clock.now())
    set_disabled(db, "alice", True, "root", clock.now())  # others are fine
    set_role(db, "alice", "admin", "root", clock.now())
    with pytest.raises(UserError, match="last enabled admin"):  # a disabled admin does not count
        set_role(db, "root", "agent", "root", clock.now())
    set_disabled(db, "alice", False, "root", clock.now())
    set_role(db, "root", "agent", "alice", clock.now())
    with db.connect() as conn:
        root = find_user(conn, "root")
    assert root is not None and root.role is Role.AGENT


def test_without_any_admin_other_changes_still_work(db: Engine, clock: FrozenClock) -> None:
    add_user(db, "alice", "agent", PASSWORD, "setup", clock.now())
    assert set_role(db, "alice", "manager", "setup", clock.now()).role is Role.MANAGER
    assert set_disabled(db, "alice", True, "setup", clock.now()).disabled
    with pytest.raises(UserNotFound):
        set_role(db, "nobody", "agent", "setup", clock.now())


def test_telegram_ids_link_one_user_each(db: Engine, clock: FrozenClock) -> None:
    add_user(db, "alice", "agent", PASSWORD, "root", clock.now())
    add_user(db, "bob", "agent", PASSWORD, "root", clock.now())
    assert link_telegram(db, "alice", "123456789", "root", clock.now()).telegram_user_id == 123456789
    with pytest.raises(UserExists, match="already linked to alice"):
        link_telegram(db, "bob", 123456789, "root", clock.now())
    with pytest.raises(ValueError):
        link_telegram(db, "bob", "-5", "root", clock.now())
    with db.connect() as conn:
        linked = user_by_telegram_id(conn, 123456789)
    assert linked is not None and linked.name == "alice"
    assert link_telegram(db, "alice", None, "root", clock.now()).telegram_user_id is None


# --- tactful user ---------------------------------------------------------------------------------


@pytest.fixture
def config(tmp_path: Path, sqlite_url: str) -> str:
    path = tmp_path / "tactful.toml"
    path.write_text(f'[storage]\nurl = "{sqlite_url}"\n', encoding="utf-8")
    return str(path)


def run(config: str, *args: str) -> int:
    return main(["--config", config, "user", *args])


def test_user_commands(
    config: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "pw"
    secret.write_text(PASSWORD + "\n", encoding="utf-8")
    assert run(config, "add", "root", "--role", "admin", "--password-file", str(secret), "--by", "ops") == 0
    monkeypatch.setenv("TACTFUL_USER_PASSWORD", "another good password")
    assert run(config, "add", "alice", "--role", "agent") == 0
    assert run(config, "set-role", "alice", "manager") == 0
    assert run(config, "link-telegram", "alice", "4242") == 0
    assert run(config, "disable", "alice") == 0
    assert run(config, "list", "--json") == 0
    out = capsys.readouterr().out
    assert PASSWORD not in out and "another good password" not in out
    listing = json.loads(out[out.index("[") :])
    assert [(u["name"], u["role"], u["disabled"], u["telegram_user_id"]) for u in listing] == [
        ("alice", "manager", True, 4242),
        ("root", "admin", False, None),
    ]
    assert run(config, "disable", "root") == 1  # the last admin
    assert "last enabled admin" in capsys.readouterr().err
    assert run(config, "add", "root", "--role", "agent") == 1
    assert "already exists" in capsys.readouterr().err


def test_user_add_prompts_twice_in_a_terminal(
    config: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TACTFUL_USER_PASSWORD", raising=False)
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    typed = iter([PASSWORD, PASSWORD + "x"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(typed))
    assert run(config, "add", "alice", "--role", "agent") == 1
    assert "differ" in capsys.readouterr().err
    typed = iter([PASSWORD, PASSWORD])
    assert run(config, "add", "alice", "--role", "agent") == 0
    assert PASSWORD not in capsys.readouterr().out


def test_user_add_without_a_password_source_or_terminal_fails(
    config: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TACTFUL_USER_PASSWORD", raising=False)
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    assert run(config, "add", "alice", "--role", "agent") == 1
    assert "--password-file" in capsys.readouterr().err
    monkeypatch.setenv("TACTFUL_USER_PASSWORD", "short")
    assert run(config, "add", "alice", "--role", "agent") == 1
    assert "at least 10" in capsys.readouterr().err
