"""Names of Messenger senders from the User Profile API, for webhook deliveries that carry none.

A Messenger webhook event names its sender only by a page-scoped id, so without a look-up a new
customer's first message could only be answered without their name (and the default policy's
acknowledgements all use it). ``GET /<PSID>?fields=first_name,last_name`` with the page token
gives the name. Look-ups are few (only senders the store has no name for, at most
`max_per_delivery` per delivery), quick (a short timeout, no retries: the webhook must answer
Meta within seconds) and optional: a failure leaves the message without a name, never loses it,
and a rate limit stops look-ups until it lifts.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import datetime

from listeners.facebook_client import GraphClient
from tactful.clock import Clock, SystemClock
from tactful.errors import PlatformError, RateLimited
from tactful.payload_fields import DISPLAY_NAME_MAX, name

log = logging.getLogger(__name__)

MAX_PER_DELIVERY = 10


class MessengerProfiles:
    """Looks up Messenger senders' names (first and last) through the page's Graph client."""

    def __init__(
        self, graph: GraphClient, clock: Clock | None = None, max_per_delivery: int = MAX_PER_DELIVERY
    ) -> None:
        self._graph = graph
        self._clock = clock or SystemClock()
        self._max = max_per_delivery
        self._lock = threading.Lock()
        self._paused_until: datetime | None = None
        self._failing = False

    def __repr__(self) -> str:
        return f"MessengerProfiles({self._graph!r})"

    def names(self, sender_ids: Sequence[str]) -> dict[str, str]:
        """Return the display names found for these page-scoped ids (missing ones are left out)."""
        found: dict[str, str] = {}
        for sender_id in list(dict.fromkeys(sender_ids))[: self._max]:
            if self._paused():
                break
            try:
                profile = self._graph.get_object(sender_id, fields="first_name,last_name")
            except RateLimited as exc:
                with self._lock:
                    self._paused_until = exc.retry_at
                self._note_failure(exc)
                break
            except PlatformError as exc:
                self._note_failure(exc)
                continue
            self._note_success()
            parts = [profile.get("first_name"), profile.get("last_name")]
            full = name(
                " ".join(p.strip() for p in parts if isinstance(p, str) and p.strip()), DISPLAY_NAME_MAX
            )
            if full is not None:
                found[sender_id] = full
        return found

    def _paused(self) -> bool:
        with self._lock:
            if self._paused_until is None:
                return False
            if self._clock.now() < self._paused_until:
                return True
            self._paused_until = None
            return False

    def _note_failure(self, exc: PlatformError) -> None:
        with self._lock:
            first, self._failing = not self._failing, True
        if first:
            log.warning(
                "Messenger sender names unavailable: %s (messages are stored without a name until it recovers)",
                exc,
            )

    def _note_success(self) -> None:
        with self._lock:
            recovered, self._failing = self._failing, False
        if recovered:
            log.info("Messenger sender names available again")
