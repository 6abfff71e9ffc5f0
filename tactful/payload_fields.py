"""Checks and clean-ups for untrusted payload fields, so whatever a platform sends fits the store.

Platform payloads are JSON written by strangers: ids can be any type or length, strings can hold
NUL characters or lone UTF-16 surrogates (legal as JSON escapes, refused by UTF-8 encoders and
by PostgreSQL), numbers can exceed 64 bits and timestamps can lie far outside any real date.
The limits here are the store's column sizes; the parsers reject (quarantine) what fails them.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any, TypeGuard

AUTHOR_ID_MAX = 64  # authors.external_id
THREAD_ID_MAX = 128  # threads.external_id
MESSAGE_ID_MAX = 160  # messages.external_id and in_reply_to_external_id
USERNAME_MAX = 128  # authors.username
DISPLAY_NAME_MAX = 256  # authors.display_name
LANGUAGE_MAX = 16  # messages.language_hint

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
"""Message times outside these bounds are not real (and far-off dates overflow date arithmetic)."""

_INT64 = 2**63
_REPLACEMENT = "\ufffd"


def is_digits(value: Any, max_length: int) -> TypeGuard[str]:
    """Whether `value` is a string of 1..max_length ASCII digits (``"²"`` and ``"٣"`` are not)."""
    return isinstance(value, str) and 0 < len(value) <= max_length and value.isascii() and value.isdigit()


def is_token(value: Any, max_length: int) -> TypeGuard[str]:
    """Whether `value` is a 1..max_length string of printable characters without spaces."""
    return (
        isinstance(value, str)
        and 0 < len(value) <= max_length
        and value.isprintable()
        and not any(ch.isspace() for ch in value)
    )


def storable_text(value: str) -> str:
    """Return `value` with NUL characters and lone surrogates replaced by U+FFFD."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return value.replace("\x00", _REPLACEMENT) if "\x00" in value else value


def name(value: Any, max_length: int) -> str | None:
    """A display string (user name, display name): storable, cut to `max_length`; None if empty."""
    if not isinstance(value, str) or not value.strip():
        return None
    return storable_text(value)[:max_length]


def language_tag(value: Any) -> str | None:
    """A BCP-47-looking language tag (``en``, ``pt-BR``) that fits the column; None otherwise."""
    if not isinstance(value, str) or not 2 <= len(value) <= LANGUAGE_MAX or value == "und":
        return None
    parts = value.split("-")
    if not (parts[0].isascii() and parts[0].isalpha() and 2 <= len(parts[0]) <= 3):
        return None
    return value if all(p.isascii() and p.isalnum() for p in parts[1:]) else None


def utc_from_timestamp(seconds: Any) -> datetime | None:
    """Unix seconds (int or float, not bool) as an aware UTC time within the plausible range."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        return None
    if isinstance(seconds, float) and not math.isfinite(seconds):
        return None
    if not EARLIEST.timestamp() <= seconds < LATEST.timestamp():
        return None
    return datetime.fromtimestamp(seconds, UTC)


def plausible(moment: datetime | None) -> datetime | None:
    """`moment` if it lies within the plausible range, else None."""
    return moment if moment is not None and EARLIEST <= moment < LATEST else None


def brief(value: Any, limit: int = 80) -> str:
    """A bounded repr of an untrusted value, for rejection reasons."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def storable_json(value: Any) -> Any:
    """A copy of JSON data that every JSON column accepts: clean strings, big integers as strings."""
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value if -_INT64 <= value < _INT64 else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {storable_text(str(k)): storable_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [storable_json(v) for v in value]
    return storable_text(str(value))
