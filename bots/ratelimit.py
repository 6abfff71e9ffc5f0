"""A sliding-window send cap driven by an injected clock."""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta


class SendRateCap:
    """Allows at most `limit` sends in any `window`; never sleeps, only answers."""

    def __init__(self, limit: int, window: timedelta = timedelta(minutes=1)) -> None:
        self.limit = limit
        self.window = window
        self._sent: deque[datetime] = deque()

    def _trim(self, now: datetime) -> None:
        while self._sent and now - self._sent[0] >= self.window:
            self._sent.popleft()

    def allows(self, now: datetime) -> bool:
        """Tell whether one more send fits in the window now."""
        self._trim(now)
        return len(self._sent) < self.limit

    def record(self, now: datetime) -> None:
        """Count a send made at `now`."""
        self._sent.append(now)

    def next_slot(self, now: datetime) -> datetime:
        """Return when the next send will be allowed."""
        self._trim(now)
        return now if len(self._sent) < self.limit else self._sent[0] + self.window
