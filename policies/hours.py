"""Opening hours arithmetic: is a moment inside business hours, when do they next open, add business minutes.

Hours are given per weekday in local wall-clock time of an IANA timezone (zoneinfo), as minute
ranges from that day's midnight; a range may end after midnight (22:00-02:00 ends at 02:00 the
next day) and belongs to the day it starts on, so a holiday closes the ranges that start on it.
Local times are turned into instants one local day at a time, so DST changes are honoured: on the
day clocks go forward a 00:00-09:00 range lasts eight hours, and a time that does not exist
(01:30 in London on the last Sunday of March) is read with the offset before the change. Every
instant in and out is timezone-aware UTC. Nothing here reads the clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

#: Weekday keys in Python's order (date.weekday(): Monday is 0).
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_MINUTES = 24 * 60
#: How far ahead the search for open time goes before giving up (a year of closures is a mistake).
MAX_SEARCH_DAYS = 400
_CACHE_LIMIT = 4096

MinuteRange = tuple[int, int]


def parse_range(text: str) -> MinuteRange:
    """Parse ``HH:MM-HH:MM`` into minutes from midnight; an end at or before the start is the next day."""
    try:
        start_text, end_text = text.strip().split("-")
        start, end = _minutes(start_text, allow_24=False), _minutes(end_text, allow_24=True)
    except ValueError:
        raise ValueError(f"'{text}' is not an opening range like 09:00-17:30 (or 22:00-02:00)") from None
    if end == start:
        raise ValueError(f"'{text}' is empty: start and end are the same time")
    if end < start:
        end += DAY_MINUTES
    return start, end


def _minutes(text: str, allow_24: bool) -> int:
    hours_text, minutes_text = text.strip().split(":")
    if len(hours_text) != 2 or len(minutes_text) != 2:
        raise ValueError(text)
    hours, minutes = int(hours_text), int(minutes_text)
    if hours == 24 and minutes == 0 and allow_24:
        return DAY_MINUTES
    if not (0 <= hours < 24 and 0 <= minutes < 60):
        raise ValueError(text)
    return hours * 60 + minutes


def week_overlaps(weekly: Mapping[str, Iterable[MinuteRange]]) -> str | None:
    """Describe the first overlap between ranges of a week (ranges crossing midnight included), if any."""
    spans: list[tuple[int, int, str]] = []
    for index, day in enumerate(WEEKDAYS):
        for start, end in weekly.get(day, ()):
            base = index * DAY_MINUTES
            spans.append((base + start, base + end, day))
    spans.sort()
    week = 7 * DAY_MINUTES
    for (_start, end, day), (next_start, _end, next_day) in pairwise(spans):
        if next_start < end:
            return f"a {day} range overlaps a {next_day} range"
    if spans and spans[-1][1] > week and spans[-1][1] - week > spans[0][0]:
        return f"the {spans[-1][2]} range that crosses midnight overlaps a {spans[0][2]} range"
    return None


class OpeningHours:
    """Business hours of one timezone: weekly ranges and closed dates; answers are cached."""

    def __init__(
        self,
        timezone: str,
        weekly: Mapping[str, Iterable[MinuteRange]] | None,
        holidays: Iterable[date] = (),
    ) -> None:
        self.timezone = timezone
        self.tz = ZoneInfo(timezone)
        self.always_open = weekly is None
        self._weekly: tuple[tuple[MinuteRange, ...], ...] = tuple(
            tuple(sorted((weekly or {}).get(day, ()))) for day in WEEKDAYS
        )
        self.holidays = frozenset(holidays)
        if not self.always_open and not any(self._weekly):
            raise ValueError("business hours need at least one opening range in the week")
        self._days: dict[date, tuple[tuple[datetime, datetime], ...]] = {}
        self._added: dict[tuple[datetime, int], datetime] = {}

    def local(self, at: datetime) -> datetime:
        """Return `at` in the hours' timezone."""
        return at.astimezone(self.tz)

    def ranges_on(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        """Return the UTC (start, end) of the ranges that start on local date `day` (none on a holiday)."""
        found = self._days.get(day)
        if found is None:
            if day in self.holidays:
                found = ()
            else:
                midnight = datetime.combine(day, time(0), tzinfo=self.tz)
                found = tuple(
                    (_utc(midnight + timedelta(minutes=start)), _utc(midnight + timedelta(minutes=end)))
                    for start, end in self._weekly[day.weekday()]
                )
            if len(self._days) >= _CACHE_LIMIT:
                self._days.clear()
            self._days[day] = found
        return found

    def is_open(self, at: datetime) -> bool:
        """Whether `at` is inside an opening range (start inclusive, end exclusive)."""
        if self.always_open:
            return True
        day = self.local(at).date()
        for candidate in (day - timedelta(days=1), day):
            for start, end in self.ranges_on(candidate):
                if start <= at < end:
                    return True
        return False

    def next_open(self, at: datetime) -> datetime:
        """Return `at` if the hours are open then, else the start of the next opening range."""
        return self.add(at, 0)

    def add(self, start: datetime, minutes: int) -> datetime:
        """Return the instant `minutes` of open time after `start` (0: the next open instant)."""
        if self.always_open:
            return start + timedelta(minutes=minutes)
        key = (start, minutes)
        found = self._added.get(key)
        if found is None:
            found = self._add(start, minutes)
            if len(self._added) >= _CACHE_LIMIT:
                self._added.clear()
            self._added[key] = found
        return found

    def _add(self, start: datetime, minutes: int) -> datetime:
        remaining = timedelta(minutes=minutes)
        day = self.local(start).date() - timedelta(days=1)  # a range from yesterday may still run
        for _ in range(MAX_SEARCH_DAYS):
            for range_start, range_end in self.ranges_on(day):
                if range_end <= start:
                    continue
                begin = max(range_start, start)
                available = range_end - begin
                if remaining <= available:
                    return begin + remaining
                remaining -= available
            day += timedelta(days=1)
        raise ValueError(f"no opening hours within {MAX_SEARCH_DAYS} days of {start.isoformat()}")


def _utc(local: datetime) -> datetime:
    return local.astimezone(UTC)
