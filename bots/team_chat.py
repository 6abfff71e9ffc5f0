"""The team chat's side effects: posting announced items, answering button presses, editing posts.

`TeamChatDispatcher` drives a `TeamChatSender` (the Telegram bot) from the rows in
`storage/team_chat.py`, the way the outbox dispatcher drives bots from the outbox: a post is
marked ``sending`` in a committed transaction before the call and ``posted`` with its message
after, so a crash posts nothing twice (`recover()` turns what was in flight into ``unknown``,
since the Bot API cannot say whether it arrived). What a post says comes from
`tactful.team_chat.render_card`; nothing here decides anything.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Literal, Protocol, runtime_checkable

from sqlalchemy import Connection, Engine

from bots.outbox import AUTH_PAUSE, backoff_delay
from listeners.telegram_client import InlineButton
from storage.team_chat import (
    ANSWERED,
    FAILED,
    GONE,
    PostRow,
    due_posts,
    item_cards,
    mark_interrupted_posts,
    mark_interrupted_presses,
    mark_post_failed,
    mark_post_posted,
    mark_post_sending,
    mark_post_synced,
    mark_press_answered,
    posts_to_sync,
    presses_to_answer,
    reschedule_post,
)
from tactful.clock import Clock
from tactful.errors import AuthenticationFailed, PlatformError, RateLimited, TransientPlatformError
from tactful.outages import PendingWrites
from tactful.team_chat import CardButton, PostContent, render_card

log = logging.getLogger(__name__)

#: How long a press may wait for its answer; Telegram forgets unanswered callback queries soon after.
ANSWER_WINDOW = timedelta(seconds=30)


@runtime_checkable
class TeamChatSender(Protocol):
    """What the team chat needs from a bot (`bots.telegram.TelegramBot` provides it).

    `post_message` returns the new message's ``"<chat>:<message>"``; `edit_message` returns
    ``edited``, ``unchanged`` or ``gone`` (deleted from the chat); both raise the
    `tactful.errors` types, `RateLimited` included, like `Bot.send`. `answer_press` answers a
    callback query with a short notice.
    """

    def post_message(self, chat_id: int, text: str, buttons: list[list[InlineButton]], *, html: bool) -> str:
        """Send a message with an inline keyboard; return its reference."""
        ...

    def edit_message(
        self, ref: str, text: str, buttons: list[list[InlineButton]], *, html: bool
    ) -> Literal["edited", "unchanged", "gone"]:
        """Rewrite a message and its keyboard."""
        ...

    def answer_press(self, callback_query_id: str, text: str | None) -> None:
        """Answer a button press."""
        ...


def keyboard(rows: list[list[CardButton]]) -> list[list[InlineButton]]:
    """Turn a rendered post's buttons into the Telegram client's inline buttons."""
    return [[InlineButton(b.text, url=b.url, callback_data=b.data) for b in row] for row in rows if row]


class TeamChatDispatcher:
    """Posts, answers and edits in the team chat; every failure is recorded and retried or given up."""

    def __init__(
        self,
        db: Engine,
        sender: TeamChatSender,
        clock: Clock,
        dashboard_url: str | None,
        *,
        max_attempts: int = 6,
        rng: random.Random | None = None,
    ) -> None:
        self._db = db
        self._sender = sender
        self._clock = clock
        self._dashboard_url = dashboard_url
        self._max_attempts = max_attempts
        self._rng = rng or random.Random()
        self._paused_until: datetime | None = None
        self._failing = False
        # Outcomes of posts (made, rescheduled, given up) the database could not record: written
        # first thing on the next pass instead of the post turning "unknown" at the next restart.
        self._unrecorded = PendingWrites(db, "team chat")

    def render(self, post: PostRow) -> PostContent | None:
        """What the post of `post.item_id` should say now (None if the item is gone)."""
        with self._db.connect() as conn:
            card = item_cards(conn, [post.item_id]).get(post.item_id)
        return render_card(card, self._dashboard_url) if card is not None else None

    def recover(self) -> tuple[int, int]:
        """Settle what a crash left in flight: posts become ``unknown``, presses ``interrupted``.

        Neither is done again: a post may already be in the chat, and a press may already have
        acted. Returns (posts, presses).
        """
        with self._db.begin() as conn:
            items = mark_interrupted_posts(conn)
            presses = mark_interrupted_presses(conn)
        for item_id in items:
            log.warning(
                "team chat: the post of review item #%d was interrupted mid-send; not posting it again",
                item_id,
            )
        if presses:
            log.warning(
                "team chat: %d button presses were interrupted mid-action; not applying them again", presses
            )
        return len(items), presses

    def deliver_due(self, limit: int = 20) -> int:
        """Post every due announcement (until Telegram says wait); return how many were posted."""
        self._unrecorded.replay()
        if self._paused():
            return 0
        with self._db.connect() as conn:
            posts = due_posts(conn, self._clock.now(), limit)
        posted = 0
        for post in posts:
            outcome = self._deliver(post)
            if outcome == "stop":
                break
            posted += outcome == "posted"
        return posted

    def _deliver(self, post: PostRow) -> Literal["posted", "failed", "stop"]:
        now = self._clock.now()
        with self._db.begin() as conn:
            if not mark_post_sending(conn, post.id, now):
                return "failed"
        content = self.render(post)
        if content is None:
            with self._db.begin() as conn:
                mark_post_failed(conn, post.id, "the review item no longer exists")
            return "failed"
        try:
            ref = self._sender.post_message(
                int(post.chat_id), content.text, keyboard(content.buttons), html=True
            )
        except RateLimited as exc:
            self._paused_until = at = exc.retry_at
            error = str(exc)
            self._record(
                post, "rate limited", lambda c: reschedule_post(c, post.id, at, error, count_attempt=False)
            )
            return "stop"
        except AuthenticationFailed as exc:
            self._paused_until = now + AUTH_PAUSE
            error = str(exc)
            self._note_failure(f"authentication failed: {error}", logging.ERROR)
            self._record(
                post,
                "refused",
                lambda c: reschedule_post(c, post.id, now + AUTH_PAUSE, error, count_attempt=False),
            )
            return "stop"
        except TransientPlatformError as exc:
            attempts = post.attempts + 1
            error = str(exc)
            self._note_failure(error)
            if attempts >= self._max_attempts:
                gave_up = f"gave up after {attempts} attempts: {error}"
                self._record(post, "given up", lambda c: mark_post_failed(c, post.id, gave_up))
            else:
                at = now + backoff_delay(attempts, rng=self._rng)
                self._record(post, "not posted", lambda c: reschedule_post(c, post.id, at, error))
            return "stop"
        except (
            PlatformError
        ) as exc:  # RecipientUnreachable, PermanentPlatformError: the bot cannot post there
            error = str(exc)
            self._note_failure(error, logging.ERROR)
            self._record(post, "refused for good", lambda c: mark_post_failed(c, post.id, error))
            return "failed"
        state, shown, posted_at = content.state, content.status, self._clock.now()
        self._record(post, "posted", lambda c: mark_post_posted(c, post.id, ref, state, shown, posted_at))
        self._note_recovery()
        return "posted"

    def _record(self, post: PostRow, what: str, write: Callable[[Connection], object]) -> None:
        """Record what became of a post; if the database is down, on the next pass (and raise)."""
        self._unrecorded.write(f"the post of review item #{post.item_id} was {what}", write)

    def answer_presses(self, limit: int = 50) -> int:
        """Answer every handled press that is still unanswered; return how many were answered."""
        with self._db.connect() as conn:
            presses = presses_to_answer(conn, limit)
        answered = 0
        for press in presses:
            error: PlatformError | None
            try:
                self._sender.answer_press(press.callback_query_id, press.answer)
            except (RateLimited, TransientPlatformError) as exc:
                if self._clock.now() - press.received_at < ANSWER_WINDOW:
                    continue  # try again on the next pass
                status, error = FAILED, exc
            except PlatformError as exc:  # "query is too old": Telegram no longer takes an answer
                status, error = FAILED, exc
            else:
                status, error = ANSWERED, None
                answered += 1
            if error is not None:
                log.info("team chat: could not answer press %s: %s", press.callback_query_id, error)
            with self._db.begin() as conn:
                mark_press_answered(conn, press.callback_query_id, status)
        return answered

    def sync_messages(self, limit: int = 200) -> int:
        """Edit every post whose item changed (claimed, labelled, resolved, reopened…); return how many."""
        if self._paused():
            return 0
        with self._db.connect() as conn:
            rows = posts_to_sync(conn, limit)
            cards = item_cards(conn, [row.item_id for row in rows])
        edited = 0
        for row in rows:
            card = cards.get(row.item_id)
            if card is None or row.message_ref is None:
                continue
            content = render_card(card, self._dashboard_url)
            if content.state == row.last_state:
                continue
            try:
                result = self._sender.edit_message(
                    row.message_ref, content.text, keyboard(content.buttons), html=True
                )
            except RateLimited as exc:
                self._paused_until = exc.retry_at
                break
            except (AuthenticationFailed, TransientPlatformError) as exc:
                self._note_failure(str(exc))
                break
            except PlatformError as exc:
                with self._db.begin() as conn:
                    mark_post_failed(conn, row.id, f"cannot edit: {exc}")
                continue
            with self._db.begin() as conn:
                if result == "gone":
                    mark_post_failed(conn, row.id, "the message was deleted from the chat", status=GONE)
                else:
                    mark_post_synced(conn, row.id, content.state, content.status, self._clock.now())
            edited += result == "edited"
        return edited

    def _paused(self) -> bool:
        return self._paused_until is not None and self._paused_until > self._clock.now()

    def _note_failure(self, what: str, level: int = logging.WARNING) -> None:
        if not self._failing:
            self._failing = True
            log.log(level, "team chat: sending is failing: %s", what)

    def _note_recovery(self) -> None:
        if self._failing:
            self._failing = False
            log.info("team chat: sending recovered")
