"""Business hours and SLA arithmetic: midnight, weekends, holidays and DST, in a real timezone (zoneinfo)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from pydantic import ValidationError

from moderation.verdict import Category
from policies.hours import OpeningHours, parse_range
from policies.reply_by import reply_by_phrase, reply_by_values
from policies.schema import BusinessHours, Policy
from policies.sla import ServiceLevels
from tactful.domain import Channel, Platform

LONDON = ZoneInfo("Europe/London")
WEEKDAYS_9_TO_5 = {day: [parse_range("09:00-17:00")] for day in ("mon", "tue", "wed", "thu", "fri")}


def london(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """A London wall-clock time as UTC (fold 0 for ambiguous times)."""
    return datetime(year, month, day, hour, minute, tzinfo=LONDON).astimezone(UTC)


def test_parse_range_reads_midnight_crossings_and_24_00() -> None:
    assert parse_range("09:00-17:30") == (540, 1050)
    assert parse_range("22:00-02:00") == (1320, 1560)
    assert parse_range("00:00-24:00") == (0, 1440)
    for bad in ("9-17", "09:00", "25:00-26:00", "09:00-09:00", "09:60-10:00", "24:00-02:00"):
        with pytest.raises(ValueError):
            parse_range(bad)


def test_weekend_pushes_the_due_time_to_monday() -> None:
    hours = OpeningHours("Europe/London", WEEKDAYS_9_TO_5)
    friday = london(2025, 1, 10, 16, 50)
    assert hours.add(friday, 30) == london(2025, 1, 13, 9, 20)
    assert not hours.is_open(london(2025, 1, 11, 12))
    assert hours.next_open(london(2025, 1, 11, 12)) == london(2025, 1, 13, 9)
    assert hours.next_open(london(2025, 1, 13, 10)) == london(2025, 1, 13, 10)  # open: now


def test_a_range_crossing_midnight_belongs_to_the_day_it_starts() -> None:
    hours = OpeningHours(
        "Europe/London", {"fri": [parse_range("22:00-02:00")], "sat": [parse_range("10:00-12:00")]}
    )
    assert hours.is_open(london(2025, 1, 11, 1, 30))  # Saturday 01:30, in Friday's range
    assert not hours.is_open(london(2025, 1, 11, 2))  # the end is exclusive
    assert hours.add(london(2025, 1, 10, 21), 30) == london(2025, 1, 10, 22, 30)
    assert hours.add(london(2025, 1, 11, 1, 50), 30) == london(2025, 1, 11, 10, 20)  # 10 min, then Saturday
    # Sunday's range runs into Monday: no Monday range is needed to be open at Monday 00:30.
    late = OpeningHours("UTC", {"sun": [parse_range("23:00-01:00")]})
    assert late.is_open(datetime(2025, 1, 13, 0, 30, tzinfo=UTC))


def test_holidays_close_the_ranges_that_start_on_them() -> None:
    weekly = {**WEEKDAYS_9_TO_5, "thu": [parse_range("09:00-17:00"), parse_range("22:00-02:00")]}
    hours = OpeningHours("Europe/London", weekly, [date(2025, 12, 25), date(2025, 12, 26)])
    wednesday = london(2025, 12, 24, 16, 50)
    assert hours.add(wednesday, 30) == london(2025, 12, 29, 9, 20)  # Thu and Fri are holidays
    assert not hours.is_open(london(2025, 12, 25, 23))  # Thursday's late range does not open either
    assert hours.is_open(london(2026, 1, 1, 23))  # on an ordinary Thursday it does
    assert hours.is_open(london(2026, 1, 2, 1))  # ... until 02:00 on Friday


def test_spring_forward_in_london() -> None:
    every_day = {
        day: [parse_range("08:00-20:00")] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    }
    hours = OpeningHours("Europe/London", every_day)
    saturday = datetime(2025, 3, 29, 19, 50, tzinfo=UTC)  # 19:50 GMT
    due = hours.add(saturday, 30)
    assert due == datetime(2025, 3, 30, 7, 20, tzinfo=UTC)  # 08:20 BST on Sunday
    assert due.astimezone(LONDON).hour == 8
    night = OpeningHours("Europe/London", {"sun": [parse_range("00:00-09:00")]})
    ((start, end),) = night.ranges_on(date(2025, 3, 30))
    assert end - start == timedelta(hours=8)  # an hour never happened
    # 01:30 does not exist that night: it is read with the offset before the change (GMT).
    gap = OpeningHours("Europe/London", {"sun": [parse_range("01:30-03:00")]})
    ((start, end),) = gap.ranges_on(date(2025, 3, 30))
    assert (start, end) == (datetime(2025, 3, 30, 1, 30, tzinfo=UTC), datetime(2025, 3, 30, 2, 0, tzinfo=UTC))


def test_fall_back_in_london() -> None:
    every_day = {
        day: [parse_range("08:00-20:00")] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    }
    hours = OpeningHours("Europe/London", every_day)
    saturday = datetime(2025, 10, 25, 18, 50, tzinfo=UTC)  # 19:50 BST
    assert hours.add(saturday, 30) == datetime(2025, 10, 26, 8, 20, tzinfo=UTC)  # 08:20 GMT on Sunday
    night = OpeningHours("Europe/London", {"sun": [parse_range("00:00-09:00")]})
    ((start, end),) = night.ranges_on(date(2025, 10, 26))
    assert end - start == timedelta(hours=10)  # an hour happened twice
    # Business minutes run straight through the repeated hour.
    assert night.add(datetime(2025, 10, 25, 23, 0, tzinfo=UTC), 120) == datetime(
        2025, 10, 26, 1, 0, tzinfo=UTC
    )


def test_a_week_without_any_opening_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        OpeningHours("UTC", {})
    with pytest.raises(ValueError, match="no opening hours"):
        OpeningHours(
            "UTC", {"mon": [(540, 600)]}, [date(2025, 1, 6) + timedelta(days=7 * n) for n in range(60)]
        ).add(datetime(2025, 1, 6, tzinfo=UTC), 5)


def _hours(**data: Any) -> BusinessHours:
    return BusinessHours.model_validate(
        {"timezone": "Europe/London", "weekly": {"mon": "09:00-17:00"}, **data}
    )


def test_the_schema_checks_timezones_ranges_and_overlaps() -> None:
    assert _hours().weekly == {"mon": ("09:00-17:00",)}
    with pytest.raises(ValidationError, match="unknown timezone 'Mars/Olympus'"):
        _hours(timezone="Mars/Olympus")
    with pytest.raises(ValidationError, match="not an opening range"):
        _hours(weekly={"mon": ["9-5"]})
    with pytest.raises(ValidationError, match="overlap"):
        _hours(weekly={"mon": ["09:00-12:00", "11:00-17:00"]})
    with pytest.raises(ValidationError, match="overlap"):  # Sunday's late range runs into Monday's
        _hours(weekly={"sun": ["22:00-03:00"], "mon": ["02:00-09:00"]})
    with pytest.raises(ValidationError, match="Input should be 'mon'"):
        _hours(weekly={"monday": ["09:00-17:00"]})
    with pytest.raises(ValidationError, match="at least one"):
        _hours(weekly={"mon": []})


POLICY = """
version: 1
brand: {name: Acme}
rules: [{id: all, then: [{queue: {priority: 10, reason: look}}]}]
business_hours:
  timezone: Europe/London
  weekly: {mon: 09:00-17:00, tue: 09:00-17:00, wed: 09:00-17:00, thu: 09:00-17:00, fri: 09:00-17:00}
  holidays: [2025-12-25]
  overrides:
    - {platform: facebook, channel: direct, weekly: {sat: 10:00-14:00, sun: 10:00-14:00}}
    - {platform: telegram, timezone: America/New_York}
sla:
  default_minutes: 240
  targets:
    - {platform: facebook, channel: direct, minutes: 15}
    - {category: complaint, minutes: 30}
    - {platform: x, minutes: 60}
"""


def levels(text: str = POLICY) -> ServiceLevels:
    return ServiceLevels(Policy.model_validate(yaml.safe_load(text)))


def test_targets_apply_in_order_and_overrides_per_channel() -> None:
    sla = levels()
    assert sla.minutes(Platform.FACEBOOK, Channel.DIRECT, Category.COMPLAINT) == 15  # Messenger first
    assert sla.minutes(Platform.X, Channel.MENTION, Category.COMPLAINT) == 30  # complaints beat X's 60
    assert sla.minutes(Platform.X, Channel.MENTION, Category.QUESTION) == 60
    assert sla.minutes(Platform.TELEGRAM, Channel.GROUP, Category.QUESTION) == 240
    monday = london(2025, 1, 6, 12, 0)
    assert sla.due_at(Platform.X, Channel.MENTION, Category.QUESTION, monday + timedelta(seconds=59)) == (
        monday + timedelta(minutes=60)  # whole minutes: the seconds are dropped
    )
    saturday = london(2025, 1, 11, 12, 0)
    assert sla.hours(Platform.FACEBOOK, Channel.DIRECT).is_open(saturday)
    assert not sla.hours(Platform.FACEBOOK, Channel.COMMENT).is_open(saturday)
    assert sla.due_at(Platform.FACEBOOK, Channel.DIRECT, Category.QUESTION, saturday) == saturday + timedelta(
        minutes=15
    )
    # Telegram keeps the weekly hours but reads them in New York time (09:00 there is 14:00 in London).
    assert sla.due_at(Platform.TELEGRAM, Channel.GROUP, Category.OTHER, monday) == london(2025, 1, 6, 18)


def test_promises_never_name_a_time_in_the_past() -> None:
    sla = levels()
    written = london(2025, 1, 6, 12, 0)
    now = london(2025, 1, 6, 15, 0)  # processed three hours late; the 60 minutes have passed
    assert sla.promise(Platform.X, Channel.MENTION, Category.QUESTION, written, now) == london(
        2025, 1, 6, 16, 1
    )
    assert sla.promise(Platform.X, Channel.MENTION, Category.QUESTION, written, written) == london(
        2025, 1, 6, 13
    )


def test_without_business_hours_every_minute_counts() -> None:
    sla = levels("version: 1\nbrand: {name: A}\nrules: [{id: r, then: [{ignore: x}]}]\n")
    sunday = datetime(2025, 1, 5, 3, 0, tzinfo=UTC)
    assert sla.due_at(Platform.X, Channel.MENTION, Category.QUESTION, sunday) == sunday + timedelta(hours=4)
    wall = levels(POLICY.replace("  default_minutes: 240", "  default_minutes: 240\n  business_time: false"))
    friday = london(2025, 1, 10, 16, 50)
    assert wall.due_at(Platform.X, Channel.MENTION, Category.COMPLAINT, friday) == friday + timedelta(
        minutes=30
    )


@pytest.mark.parametrize(
    ("deadline", "language", "phrase"),
    [
        (london(2025, 1, 6, 14, 45), "en", "by 14:45 today"),
        (london(2025, 1, 7, 9, 0), "en", "by 9:00 tomorrow"),
        (london(2025, 1, 10, 9, 30), "en", "by 9:30 on Friday"),
        (london(2025, 1, 20, 9, 0), "en", "by 9:00 on 20 January"),
        (london(2025, 1, 7, 9, 0), "de", "bis morgen um 9:00 Uhr"),
        (london(2025, 1, 10, 9, 30), "pl", "w piątek do 9:30"),
        (london(2025, 1, 7, 9, 0), "pt-br", "2025-01-07 9:00"),
    ],
)
def test_reply_by_phrases(deadline: datetime, language: str, phrase: str) -> None:
    now = london(2025, 1, 6, 12, 0)  # a Monday
    assert reply_by_phrase(deadline, now, LONDON, language) == phrase


def test_reply_by_uses_the_local_day_not_utc() -> None:
    # 23:30 UTC on 30 June is 00:30 BST on 1 July: "tomorrow" in London, though the same UTC day.
    now = datetime(2025, 6, 30, 12, 0, tzinfo=UTC)
    deadline = datetime(2025, 6, 30, 23, 30, tzinfo=UTC)
    assert reply_by_values(deadline, now, LONDON, "en") == {
        "reply_by": "by 0:30 tomorrow",
        "reply_by_time": "0:30",
    }
