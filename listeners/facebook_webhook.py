"""Checks for Meta webhook requests, importable by the web layer without the Facebook SDK.

Meta signs every webhook body with the app secret (``X-Hub-Signature-256: sha256=<hex>``)
and verifies a subscription with a ``hub.challenge`` handshake; both checks live here.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

SIGNATURE_HEADER = "X-Hub-Signature-256"
_PREFIX = "sha256="


def verify_signature(app_secret: str, body: bytes, header: str | None) -> bool:
    """Return True when `header` is the HMAC-SHA256 of the raw `body` under `app_secret`.

    The comparison is constant-time; a missing header, another algorithm prefix, an empty
    secret or a malformed digest all fail.
    """
    if not app_secret or header is None:
        return False
    value = header.strip()
    if not value.startswith(_PREFIX):
        return False
    received = value[len(_PREFIX) :].lower().encode("utf-8", errors="replace")
    expected = hmac.new(app_secret.encode("utf-8"), body, hashlib.sha256).hexdigest().encode("ascii")
    return hmac.compare_digest(expected, received)


def verify_subscription(params: Mapping[str, str], verify_token: str) -> str | None:
    """Answer Meta's subscription handshake: the challenge to echo back, or None to refuse.

    Meta sends ``hub.mode=subscribe``, ``hub.verify_token`` (the token configured in the
    app dashboard) and ``hub.challenge``.
    """
    if not verify_token or params.get("hub.mode") != "subscribe":
        return None
    token = params.get("hub.verify_token") or ""
    if not hmac.compare_digest(token.encode("utf-8"), verify_token.encode("utf-8")):
        return None
    challenge = params.get("hub.challenge")
    return challenge if challenge else None
