"""Dashboard sessions: a random token in an HttpOnly cookie, a keyed hash of it in the database.

Server-side sessions, so logging out, disabling a user or changing their password ends a session
at once. The cookie is HttpOnly, SameSite=Lax and, when `secure` (HTTPS), Secure with the
``__Host-`` prefix (no Domain, Path=/). The database stores only HMAC(token), so reading the
sessions table does not let anyone log in.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import timedelta

from fastapi import Request, Response
from sqlalchemy import Engine

from storage.outbox import audit
from storage.sessions import SessionUser, create_session, delete_session, find_session
from storage.users import UserRecord
from tactful.clock import Clock
from tactful.web.dashboard.csrf import derive_key, token_for

_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")
LOGIN_NONCE_COOKIE = "tactful_login"
LOGIN_NONCE_SECONDS = 3600


class SessionManager:
    """Starts, finds and ends sessions, and reads and writes their cookie."""

    def __init__(self, db: Engine, clock: Clock, secret: str, lifetime: timedelta, secure: bool) -> None:
        self._db = db
        self._clock = clock
        self._lifetime = lifetime
        self.secure = secure
        self.cookie = "__Host-tactful_session" if secure else "tactful_session"
        self._id_key = derive_key(secret, "session id")
        self._csrf_key = derive_key(secret, "csrf")
        self._login_key = derive_key(secret, "login csrf")

    def session_id(self, token: str) -> str:
        """The database key of a session: HMAC of its token, in hex (64 characters)."""
        return hmac.new(self._id_key, token.encode("ascii"), hashlib.sha256).hexdigest()

    def csrf_token(self, token: str) -> str:
        """The CSRF token of the session whose cookie token is `token`."""
        return token_for(self._csrf_key, token)

    def login_csrf_token(self, nonce: str) -> str:
        """The CSRF token of a login form whose nonce cookie holds `nonce`."""
        return token_for(self._login_key, nonce)

    def token(self, request: Request) -> str | None:
        """The well-formed session token the request's cookie carries, if any."""
        value = request.cookies.get(self.cookie)
        return value if value is not None and _TOKEN.fullmatch(value) else None

    def find(self, token: str) -> SessionUser | None:
        """Return the live session of a token and its (enabled) user, or None."""
        with self._db.connect() as conn:
            return find_session(conn, self.session_id(token), self._clock.now())

    def start(self, user: UserRecord, client: str) -> str:
        """Create a session for a user who just logged in (audited) and return its cookie token."""
        token = secrets.token_urlsafe(32)
        now = self._clock.now()
        with self._db.begin() as conn:
            create_session(conn, self.session_id(token), user.id, now, now + self._lifetime)
            audit(conn, now, user.name, "auth.login", "user", user.name, client=client)
        return token

    def end(self, token: str, user: UserRecord) -> None:
        """End a session (logout, audited)."""
        now = self._clock.now()
        with self._db.begin() as conn:
            if delete_session(conn, self.session_id(token)):
                audit(conn, now, user.name, "auth.logout", "user", user.name)

    def set_cookie(self, response: Response, token: str) -> None:
        """Attach the session cookie to a response."""
        response.set_cookie(
            self.cookie,
            token,
            max_age=int(self._lifetime.total_seconds()),
            path="/",
            secure=self.secure,
            httponly=True,
            samesite="lax",
        )

    def clear_cookie(self, response: Response) -> None:
        """Remove the session cookie."""
        response.delete_cookie(self.cookie, path="/", secure=self.secure, httponly=True, samesite="lax")

    def login_nonce(self, request: Request) -> str | None:
        """The login form's nonce from its cookie, if well-formed."""
        value = request.cookies.get(LOGIN_NONCE_COOKIE)
        return value if value is not None and _TOKEN.fullmatch(value) else None

    def set_login_nonce(self, response: Response, nonce: str) -> None:
        """Attach the login form's nonce cookie (only sent back to /login)."""
        response.set_cookie(
            LOGIN_NONCE_COOKIE,
            nonce,
            max_age=LOGIN_NONCE_SECONDS,
            path="/login",
            secure=self.secure,
            httponly=True,
            samesite="lax",
        )

    def clear_login_nonce(self, response: Response) -> None:
        """Remove the login form's nonce cookie."""
        response.delete_cookie(
            LOGIN_NONCE_COOKIE, path="/login", secure=self.secure, httponly=True, samesite="lax"
        )


def new_nonce() -> str:
    """A fresh random token in the cookie format (43 URL-safe characters)."""
    return secrets.token_urlsafe(32)
