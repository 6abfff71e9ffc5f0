"""Builders for domain values used across tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tactful.domain import Author, Channel, IncomingMessage, Platform

BASE_TIME = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def make_message(
    external_id: str,
    text: str = "hello",
    *,
    author_id: str = "100",
    username: str = "alice",
    thread: str | None = None,
    minutes: float = 0,
    platform: Platform = Platform.X,
    channel: Channel = Channel.MENTION,
    is_private: bool = False,
    in_reply_to: str | None = None,
) -> IncomingMessage:
    """Build an IncomingMessage with sensible defaults."""
    return IncomingMessage(
        platform=platform,
        channel=channel,
        external_id=external_id,
        thread_external_id=thread or external_id,
        author=Author(
            platform=platform, external_id=author_id, username=username, display_name=username.title()
        ),
        text=text,
        created_at=BASE_TIME + timedelta(minutes=minutes),
        is_private=is_private,
        in_reply_to_external_id=in_reply_to,
        raw={"id": external_id, "text": text},
    )
