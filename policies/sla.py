"""Service levels of a policy: business hours per channel, due times per SLA target, promised reply times.

A message's due time is its SLA target's minutes of business time (`sla.business_time`) after
it was written, counted in the hours of its platform and channel (`business_hours.overrides`).
An acknowledgement promises that time; when it has already passed (a message processed late)
it promises the target counted from now instead, never a time in the past. Times are whole
minutes, so the time a reply shows is exactly the deadline stored for it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

from moderation.verdict import Category
from policies.hours import MinuteRange, OpeningHours, parse_range
from policies.schema import BusinessHours, Policy, Sla, SlaTarget, Weekly
from tactful.domain import Channel, Platform


def _compile(timezone: str, weekly: Weekly | None, holidays: Iterable[date]) -> OpeningHours:
    ranges: dict[str, list[MinuteRange]] | None = None
    if weekly is not None:
        ranges = {str(day): [parse_range(text) for text in texts] for day, texts in weekly.items()}
    return OpeningHours(timezone, ranges, holidays)


class ServiceLevels:
    """A policy's business hours and SLA targets, compiled once; lookups are cached per channel and category."""

    def __init__(self, policy: Policy) -> None:
        self.sla: Sla = policy.sla
        self._business: BusinessHours | None = policy.business_hours
        self.always_open = _compile("UTC", None, ())
        self._default = self._hours_of(None, None)
        self._hours: dict[tuple[Platform, Channel], OpeningHours] = {}
        self._minutes: dict[tuple[Platform, Channel, Category], int] = {}
        self._due: dict[tuple[Platform, Channel, Category, int], datetime] = {}

    @property
    def remind_before(self) -> timedelta:
        """How long before a due or promised time the team is reminded."""
        return timedelta(minutes=self.sla.remind_before_minutes)

    def _hours_of(self, platform: Platform | None, channel: Channel | None) -> OpeningHours:
        hours = self._business
        if hours is None:
            return self.always_open
        timezone, weekly, holidays = hours.timezone, hours.weekly, hours.holidays
        for override in hours.overrides:
            if override.platform == platform and override.channel in (None, channel):
                timezone = override.timezone or timezone
                weekly = override.weekly if override.weekly is not None else weekly
                holidays = override.holidays if override.holidays is not None else holidays
                break
        return _compile(timezone, weekly, holidays)

    def hours(self, platform: Platform, channel: Channel) -> OpeningHours:
        """Return the business hours of a platform's channel (overrides applied)."""
        key = (platform, channel)
        found = self._hours.get(key)
        if found is None:
            found = self._hours[key] = self._hours_of(platform, channel)
        return found

    def minutes(self, platform: Platform, channel: Channel, category: Category) -> int:
        """Return the SLA minutes of the first matching target (else the default)."""
        key = (platform, channel, category)
        found = self._minutes.get(key)
        if found is None:
            target = next((t for t in self.sla.targets if _matches(t, platform, channel, category)), None)
            found = self._minutes[key] = target.minutes if target is not None else self.sla.default_minutes
        return found

    def due_at(
        self, platform: Platform, channel: Channel, category: Category, written_at: datetime
    ) -> datetime:
        """Return when a person must have answered a message written at `written_at`."""
        # A batch's messages were written within minutes of each other: cache by minute (the
        # minute number keys it; building the floored datetime costs more than the look-up).
        minute = int(written_at.timestamp() // 60)
        key = (platform, channel, category, minute)
        due = self._due.get(key)
        if due is None:
            start = datetime.fromtimestamp(minute * 60, UTC)
            if len(self._due) >= _DUE_CACHE_SIZE:
                self._due.clear()
            minutes = self.minutes(platform, channel, category)
            if not self.sla.business_time:
                due = start + timedelta(minutes=minutes)
            else:
                due = self.hours(platform, channel).add(start, minutes)
            self._due[key] = due
        return due

    def promise(
        self, platform: Platform, channel: Channel, category: Category, written_at: datetime, now: datetime
    ) -> datetime:
        """Return the reply time to promise now: the due time, or the target from now if that has passed."""
        due = self.due_at(platform, channel, category, min(written_at, now))
        if due > now:
            return due
        return self.due_at(platform, channel, category, now + timedelta(minutes=1))


_DUE_CACHE_SIZE = 4096


def _matches(target: SlaTarget, platform: Platform, channel: Channel, category: Category) -> bool:
    return (
        (target.platform is None or platform in target.platform)
        and (target.channel is None or channel in target.channel)
        and (target.category is None or category in target.category)
    )
