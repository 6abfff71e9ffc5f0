"""When two automated texts count as the same text (the identical-text check and the engine's variant choice)."""

from __future__ import annotations

import hashlib


def normalise_text(text: str) -> str:
    """Return the text as compared for identity: casefolded, whitespace collapsed, stripped."""
    return " ".join(text.casefold().split())


def text_hash(text: str) -> str:
    """Return the sha256 (hex) of the normalised text, as stored in `outbox.text_hash`."""
    return hashlib.sha256(normalise_text(text).encode("utf-8")).hexdigest()
