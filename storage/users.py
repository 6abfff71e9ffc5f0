"""Repository for the people who work the dashboard: names, roles, argon2 password hashes, Telegram ids.

Every change checks its inputs first (ValueError naming what is allowed), runs in one transaction
of its own, writes an audit row naming who made it, and never records a password or its hash.
Disabling a user or changing their password ends their dashboard sessions in the same
transaction. The last enabled admin can be neither disabled nor demoted.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Connection, Engine, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from storage import tables as t
from storage.labels import check_actor
from storage.outbox import audit
from tactful.errors import TactfulError
from tactful.roles import Role, parse_role

NAME_MAX = 48  # "human:<name>" must fit an outbox row's 64-character policy_version
PASSWORD_MIN = 10
PASSWORD_MAX = 1024
TELEGRAM_ID_MAX = 2**63 - 1
_NAME = re.compile(r"[a-z0-9][a-z0-9._@-]*")

#: argon2id with the RFC 9106 low-memory profile (64 MiB, 3 passes); read at call time, so tests
#: may swap in a cheaper one.
HASHER = PasswordHasher()
_dummy_hash: dict[str, str] = {}


class UserError(TactfulError):
    """A user change was refused; the message says why and is fit to show to the person."""


class UserNotFound(UserError, LookupError):
    """No user has this name."""


class UserExists(UserError):
    """The name (or Telegram id) is taken."""


@dataclass(frozen=True, slots=True)
class UserRecord:
    """A user as the rest of tactful sees them (the password hash stays in the table)."""

    id: int
    name: str
    role: Role
    telegram_user_id: int | None
    disabled: bool
    created_at: datetime


_COLUMNS = (
    t.users.c.id,
    t.users.c.name,
    t.users.c.role,
    t.users.c.telegram_user_id,
    t.users.c.disabled,
    t.users.c.created_at,
)


def user_columns() -> tuple[Any, ...]:
    """The columns `to_record` reads, for queries joining the users table."""
    return _COLUMNS


def to_record(row: Any) -> UserRecord:
    """Build a UserRecord from a row holding `user_columns()`."""
    return UserRecord(
        id=row.id,
        name=row.name,
        role=Role(row.role),
        telegram_user_id=row.telegram_user_id,
        disabled=bool(row.disabled),
        created_at=row.created_at,
    )


def check_user_name(name: str) -> str:
    """Return the name stripped and lower-cased, or raise ValueError if it is not a valid user name."""
    clean = name.strip().lower()
    if not clean:
        raise ValueError("a user name is required")
    if len(clean) > NAME_MAX:
        raise ValueError(f"user name is longer than {NAME_MAX} characters")
    if not _NAME.fullmatch(clean):
        raise ValueError(
            "user name must start with a letter or digit and hold only letters, digits, '.', '_', '-' and '@'"
        )
    return clean


def check_password(password: str) -> str:
    """Return the password unchanged, or raise ValueError if it is too short or too long."""
    if len(password) < PASSWORD_MIN:
        raise ValueError(f"password must be at least {PASSWORD_MIN} characters")
    if len(password) > PASSWORD_MAX:
        raise ValueError(f"password must be at most {PASSWORD_MAX} characters")
    if not password.strip():
        raise ValueError("password must not be only blanks")
    return password


def check_telegram_user_id(value: int | str) -> int:
    """Return a Telegram user id as an int, or raise ValueError (ids are positive integers)."""
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValueError(f"not a Telegram user id: {value!r}") from None
    if not 0 < number <= TELEGRAM_ID_MAX:
        raise ValueError(f"not a Telegram user id: {value!r}")
    return number


def hash_password(password: str) -> str:
    """Hash a (checked) password with argon2id; the result carries its salt and parameters."""
    return HASHER.hash(check_password(password))


def add_user(
    engine: Engine, name: str, role: Role | str, password: str, actor: str, now: datetime
) -> UserRecord:
    """Create a user; UserExists if the name is taken."""
    clean, chosen, by = check_user_name(name), _role(role), check_actor(actor)
    hashed = hash_password(password)
    u = t.users
    try:
        with engine.begin() as conn:
            key = conn.execute(
                u.insert().values(
                    name=clean, role=chosen.value, password_hash=hashed, disabled=False, created_at=now
                )
            ).inserted_primary_key
            assert key is not None
            new_id = key[0]
            audit(conn, now, by, "user.add", "user", clean, role=chosen.value)
            return to_record(conn.execute(select(*_COLUMNS).where(u.c.id == new_id)).one())
    except IntegrityError:
        raise UserExists(f"a user called {clean} already exists") from None


def list_users(conn: Connection) -> list[UserRecord]:
    """Return every user by name."""
    return [to_record(row) for row in conn.execute(select(*_COLUMNS).order_by(t.users.c.name))]


def find_user(conn: Connection, name: str) -> UserRecord | None:
    """Return the user called `name`, or None (also for a name that is not valid)."""
    try:
        clean = check_user_name(name)
    except ValueError:
        return None
    row = conn.execute(select(*_COLUMNS).where(t.users.c.name == clean)).first()
    return to_record(row) if row is not None else None


def user_by_telegram_id(conn: Connection, telegram_user_id: int) -> UserRecord | None:
    """Return the user linked to this Telegram account (disabled ones too: check `disabled`)."""
    row = conn.execute(select(*_COLUMNS).where(t.users.c.telegram_user_id == telegram_user_id)).first()
    return to_record(row) if row is not None else None


def enabled_user_names(conn: Connection) -> list[str]:
    """Return the names of users who may log in, sorted."""
    u = t.users
    return list(conn.execute(select(u.c.name).where(u.c.disabled.is_(False)).order_by(u.c.name)).scalars())


def set_role(engine: Engine, name: str, role: Role | str, actor: str, now: datetime) -> UserRecord:
    """Give a user another role; the last enabled admin cannot be demoted."""
    clean, chosen, by = check_user_name(name), _role(role), check_actor(actor)
    with engine.begin() as conn:
        _lock_admins(conn)
        user = _locked_user(conn, clean)
        updated = _update(conn, user.id, role=chosen.value)
        _keep_an_admin(conn, user)
        if user.role is not chosen:
            audit(conn, now, by, "user.role", "user", clean, role=chosen.value, previous_role=user.role.value)
    return updated


def set_disabled(engine: Engine, name: str, disabled: bool, actor: str, now: datetime) -> UserRecord:
    """Disable a user (ending their sessions at once) or enable them again; never the last enabled admin."""
    clean, by = check_user_name(name), check_actor(actor)
    with engine.begin() as conn:
        _lock_admins(conn)
        user = _locked_user(conn, clean)
        updated = _update(conn, user.id, disabled=disabled)
        if disabled:
            _keep_an_admin(conn, user)
            ended = conn.execute(delete(t.web_sessions).where(t.web_sessions.c.user_id == user.id)).rowcount
            if not user.disabled:
                audit(conn, now, by, "user.disable", "user", clean, sessions_ended=ended)
        elif user.disabled:
            audit(conn, now, by, "user.enable", "user", clean)
    return updated


def set_password(engine: Engine, name: str, password: str, actor: str, now: datetime) -> UserRecord:
    """Replace a user's password and end their sessions."""
    clean, by = check_user_name(name), check_actor(actor)
    hashed = hash_password(password)
    with engine.begin() as conn:
        user = _locked_user(conn, clean)
        updated = _update(conn, user.id, password_hash=hashed)
        ended = conn.execute(delete(t.web_sessions).where(t.web_sessions.c.user_id == user.id)).rowcount
        audit(conn, now, by, "user.password", "user", clean, sessions_ended=ended)
    return updated


def link_telegram(
    engine: Engine, name: str, telegram_user_id: int | str | None, actor: str, now: datetime
) -> UserRecord:
    """Link a user to their Telegram account (for the team chat), or unlink with None."""
    clean, by = check_user_name(name), check_actor(actor)
    tg = None if telegram_user_id is None else check_telegram_user_id(telegram_user_id)
    try:
        with engine.begin() as conn:
            user = _locked_user(conn, clean)
            if tg is not None:
                holder = user_by_telegram_id(conn, tg)
                if holder is not None and holder.id != user.id:
                    raise UserExists(f"Telegram user {tg} is already linked to {holder.name}")
            updated = _update(conn, user.id, telegram_user_id=tg)
            audit(
                conn,
                now,
                by,
                "user.telegram",
                "user",
                clean,
                telegram_user_id=tg,
                previous_telegram_user_id=user.telegram_user_id,
            )
    except IntegrityError:  # linked to someone else by a concurrent change
        raise UserExists(f"Telegram user {tg} is already linked to another user") from None
    return updated


def authenticate(engine: Engine, name: str, password: str) -> UserRecord | None:
    """Return the enabled user whose name and password match, else None.

    An unknown name costs the same argon2 work as a wrong password, so response times do not
    tell which names exist. A hash made with older parameters is upgraded on success.
    """
    try:
        clean = check_user_name(name)
    except ValueError:
        clean = None
    if len(password) > PASSWORD_MAX:
        return None
    u = t.users
    row = None
    if clean is not None:
        with engine.connect() as conn:
            row = conn.execute(select(*_COLUMNS, u.c.password_hash).where(u.c.name == clean)).first()
    if row is None or row.disabled:
        _verify(_dummy(), password)
        return None
    if not _verify(row.password_hash, password):
        return None
    if HASHER.check_needs_rehash(row.password_hash):
        with engine.begin() as conn:
            conn.execute(update(u).where(u.c.id == row.id).values(password_hash=HASHER.hash(password)))
    return to_record(row)


def _verify(hashed: str, password: str) -> bool:
    try:
        return HASHER.verify(hashed, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _dummy() -> str:
    """A hash of a random password made with the current hasher (for unknown names)."""
    key = f"{HASHER.time_cost}:{HASHER.memory_cost}:{HASHER.parallelism}:{HASHER.hash_len}"
    if key not in _dummy_hash:
        _dummy_hash[key] = HASHER.hash(secrets.token_urlsafe(24))
    return _dummy_hash[key]


def _role(role: Role | str) -> Role:
    return role if isinstance(role, Role) else parse_role(role)


def _lock_admins(conn: Connection) -> None:
    """On PostgreSQL, lock the enabled admins' rows so two changes cannot remove the last two at once.

    SQLite needs nothing: the first write of the transaction takes the database's write lock.
    """
    if conn.dialect.name == "postgresql":
        u = t.users
        conn.execute(
            select(u.c.id)
            .where(u.c.role == Role.ADMIN.value, u.c.disabled.is_(False))
            .order_by(u.c.id)
            .with_for_update()
        ).all()


def _locked_user(conn: Connection, name: str) -> UserRecord:
    """Touch the user's row first (its lock, or SQLite's write lock), then read it; raise if missing."""
    u = t.users
    touched = conn.execute(update(u).where(u.c.name == name).values(name=u.c.name))
    if touched.rowcount == 0:
        raise UserNotFound(f"no user called {name}")
    return to_record(conn.execute(select(*_COLUMNS).where(u.c.name == name)).one())


def _update(conn: Connection, user_id: int, **values: object) -> UserRecord:
    u = t.users
    conn.execute(update(u).where(u.c.id == user_id).values(**values))
    return to_record(conn.execute(select(*_COLUMNS).where(u.c.id == user_id)).one())


def _keep_an_admin(conn: Connection, before: UserRecord) -> None:
    """Refuse (roll back) a change that took away the last enabled admin."""
    if before.role is not Role.ADMIN or before.disabled:
        return
    u = t.users
    admins = conn.execute(
        select(func.count()).where(u.c.role == Role.ADMIN.value, u.c.disabled.is_(False))
    ).scalar_one()
    if admins == 0:
        raise UserError(f"{before.name} is the last enabled admin; make someone else admin first")
