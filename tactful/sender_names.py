"""Names for webhook messages whose sender the delivery names only by id (Messenger)."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import Engine

from storage.ingest import named_authors
from tactful.domain import Channel, IncomingMessage
from tactful.web.receivers import SenderNames


def name_senders(db: Engine, lookup: SenderNames, messages: list[IncomingMessage]) -> list[IncomingMessage]:
    """Give nameless senders of direct messages the platform's name for them, unless the store knows one.

    A sender the store has a name for keeps it when the message is stored (a nameless payload
    never blanks a stored name), so only senders new to the store, or never named, are looked up.
    """
    unnamed = {(m.platform, m.author.external_id) for m in messages if _nameless_direct(m)}
    if not unnamed:
        return messages
    wanted: list[str] = []
    for platform in {p for p, _ in unnamed}:
        ids = sorted(e for p, e in unnamed if p == platform)
        known = named_authors(db, platform.value, ids)
        wanted += [e for e in ids if e not in known]
    found = lookup.names(wanted) if wanted else {}
    if not found:
        return messages
    return [
        replace(m, author=replace(m.author, display_name=found[m.author.external_id]))
        if _nameless_direct(m) and m.author.external_id in found
        else m
        for m in messages
    ]


def _nameless_direct(message: IncomingMessage) -> bool:
    return message.channel is Channel.DIRECT and not (message.author.display_name or message.author.username)
