"""`tactful user …`: dashboard users from the command line (add, list, set-role, disable, enable, passwords, Telegram).

Passwords come from an interactive prompt (typed twice), `--password-file FILE` or the
``TACTFUL_USER_PASSWORD`` environment variable (for scripts); they are never printed or logged.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from tactful.errors import ConfigurationError
from tactful.roles import ROLE_NAMES

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from storage.users import UserRecord

PASSWORD_ENV = "TACTFUL_USER_PASSWORD"  # noqa: S105 - the variable's name, not a password


class PasswordUnavailable(Exception):
    """No password source was given and there is no terminal to ask."""


def read_new_password(password_file: str | None, prompt: bool | None = None) -> str:
    """Return a new password from `password_file`, else $TACTFUL_USER_PASSWORD, else a prompt (twice).

    A file's trailing line break is dropped. Raises ValueError if it is too short or the two
    typed passwords differ, PasswordUnavailable if there is no source.
    """
    from storage.users import check_password

    if password_file:
        try:
            text = Path(password_file).read_text(encoding="utf-8")
        except OSError as exc:
            raise ValueError(f"cannot read the password file: {exc.strerror}") from None
        return check_password(text.removesuffix("\n").removesuffix("\r"))
    env = os.environ.get(PASSWORD_ENV)
    if env:
        return check_password(env)
    if prompt is None:
        prompt = sys.stdin.isatty()
    if not prompt:
        raise PasswordUnavailable(
            f"no password given: use --password-file FILE, set {PASSWORD_ENV}, or run in a terminal"
        )
    first = getpass.getpass("password (at least 10 characters): ")
    check_password(first)
    if getpass.getpass("password again: ") != first:
        raise ValueError("the two passwords differ")
    return first


def _actor(args: argparse.Namespace) -> str:
    if args.by:
        return str(args.by)
    try:
        return getpass.getuser()
    except (OSError, KeyError) as exc:
        raise ConfigurationError("cannot tell who you are from the OS; pass --by NAME") from exc


def _engine(args: argparse.Namespace) -> Engine:
    from storage.db import make_engine
    from storage.migrate import upgrade
    from tactful.settings import load_settings

    engine = make_engine(load_settings(args.config).storage.url)
    upgrade(engine)
    return engine


def cmd_user(args: argparse.Namespace) -> int:
    """Run one `tactful user` subcommand."""
    from storage import users
    from tactful.clock import SystemClock

    command = args.user_command
    try:
        needs_password = command in ("add", "set-password")
        password = read_new_password(getattr(args, "password_file", None)) if needs_password else None
    except (ValueError, PasswordUnavailable) as exc:
        print(f"tactful: {exc}", file=sys.stderr)
        return 1
    engine = _engine(args)
    now = SystemClock().now()
    try:
        if command == "list":
            with engine.connect() as conn:
                _print_users(users.list_users(conn), as_json=args.json)
            return 0
        actor = _actor(args)
        if command == "add":
            assert password is not None
            user = users.add_user(engine, args.name, args.role, password, actor, now)
            print(f"added {user.name} ({user.role.value})")
        elif command == "set-password":
            assert password is not None
            user = users.set_password(engine, args.name, password, actor, now)
            print(f"password of {user.name} changed; their sessions have ended")
        elif command == "set-role":
            user = users.set_role(engine, args.name, args.role, actor, now)
            print(f"{user.name} is now {user.role.value}")
        elif command in ("disable", "enable"):
            user = users.set_disabled(engine, args.name, command == "disable", actor, now)
            print(f"{user.name} is {'disabled; their sessions have ended' if user.disabled else 'enabled'}")
        elif command == "link-telegram":
            user = users.link_telegram(engine, args.name, args.telegram_user_id, actor, now)
            print(f"{user.name} is linked to Telegram user {user.telegram_user_id}")
    except (users.UserError, ValueError) as exc:
        print(f"tactful: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    return 0


def _print_users(records: list[UserRecord], as_json: bool) -> None:
    if as_json:
        data = [
            {
                "name": u.name,
                "role": u.role.value,
                "telegram_user_id": u.telegram_user_id,
                "disabled": u.disabled,
                "created_at": u.created_at.isoformat(),
            }
            for u in records
        ]
        json.dump(data, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    if not records:
        print("no users yet: tactful user add NAME --role admin")
        return
    for u in records:
        state = "disabled" if u.disabled else "enabled"
        telegram = f"telegram {u.telegram_user_id}" if u.telegram_user_id else "-"
        print(f"{u.name:<24} {u.role.value:<8} {state:<9} {telegram}")


def add_user_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `tactful user …` to the command line."""
    users = sub.add_parser("user", help="dashboard users").add_subparsers(dest="user_command", required=True)
    by_help = "who is acting, for the audit log (default: your OS user name)"
    password_help = f"read the password from FILE (else ${PASSWORD_ENV}, else a prompt)"

    p = users.add_parser("add", help="add a user (password prompted twice, or --password-file)")
    p.add_argument("name")
    p.add_argument("--role", required=True, type=str.lower, choices=ROLE_NAMES)
    p.add_argument("--password-file", metavar="FILE", help=password_help)
    p.add_argument("--by", metavar="NAME", help=by_help)

    p = users.add_parser("list", help="list users")
    p.add_argument("--json", action="store_true")

    p = users.add_parser("set-role", help="give a user another role")
    p.add_argument("name")
    p.add_argument("role", type=str.lower, choices=ROLE_NAMES)
    p.add_argument("--by", metavar="NAME", help=by_help)

    for name, text in (
        ("disable", "stop a user logging in (ends their sessions)"),
        ("enable", "let a disabled user log in again"),
    ):
        p = users.add_parser(name, help=text)
        p.add_argument("name")
        p.add_argument("--by", metavar="NAME", help=by_help)

    p = users.add_parser("set-password", help="set a user's password (ends their sessions)")
    p.add_argument("name")
    p.add_argument("--password-file", metavar="FILE", help=password_help)
    p.add_argument("--by", metavar="NAME", help=by_help)

    p = users.add_parser("link-telegram", help="link a user to their Telegram account (for the team chat)")
    p.add_argument("name")
    p.add_argument("telegram_user_id", metavar="TELEGRAM_USER_ID")
    p.add_argument("--by", metavar="NAME", help=by_help)

    for parser in users.choices.values():
        parser.set_defaults(func=cmd_user)
