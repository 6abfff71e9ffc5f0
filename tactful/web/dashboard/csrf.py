"""CSRF tokens: one per session (and one per login form), derived with HMAC and compared in constant time.

A session's token is an HMAC of its cookie token under a key derived from the session secret, so
it needs no storage, differs per session and cannot be computed from the page alone. The login
form, which comes before any session, carries an HMAC of a random nonce kept in a short-lived
cookie (a signed double-submit token).
"""

from __future__ import annotations

import base64
import hashlib
import hmac


def derive_key(secret: str, purpose: str) -> bytes:
    """Derive an independent key for one purpose from the session secret."""
    return hmac.new(secret.encode("utf-8"), f"tactful dashboard {purpose}".encode(), hashlib.sha256).digest()


def token_for(key: bytes, value: str) -> str:
    """Return the URL-safe HMAC of `value` under `key`."""
    digest = hmac.new(key, value.encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def tokens_match(expected: str, given: object) -> bool:
    """Compare a submitted token with the expected one in constant time (anything not a string fails)."""
    if not isinstance(given, str) or not given or not expected:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8", "replace"))
