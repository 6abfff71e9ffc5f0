"""The promised reply time as words: `{reply_by}` ("by 9:00 tomorrow") and `{reply_by_time}` ("9:00").

Times are shown in the business hours' timezone, relative to the moment the reply is written:
today, tomorrow, a weekday within the coming week, else the date. Languages without phrases
here get a language-neutral ``2025-01-07 9:00``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo


@dataclass(frozen=True, slots=True)
class Phrases:
    """How one language says a reply time; `{t}` is the time, `{day}` a weekday, `{d}`/`{month}` a date."""

    today: str
    tomorrow: str
    weekday: str
    date: str
    weekdays: tuple[str, ...]  # Monday first, in the form the weekday phrase needs
    months: tuple[str, ...]  # January first, in the form the date phrase needs


PHRASES: dict[str, Phrases] = {
    "en": Phrases(
        "by {t} today",
        "by {t} tomorrow",
        "by {t} on {day}",
        "by {t} on {d} {month}",
        ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
        (
            "January",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "September",
            "October",
            "November",
            "December",
        ),
    ),
    "es": Phrases(
        "antes de las {t} de hoy",
        "antes de las {t} de mañana",
        "antes de las {t} del {day}",
        "antes de las {t} del {d} de {month}",
        ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"),
        (
            "enero",
            "febrero",
            "marzo",
            "abril",
            "mayo",
            "junio",
            "julio",
            "agosto",
            "septiembre",
            "octubre",
            "noviembre",
            "diciembre",
        ),
    ),
    "de": Phrases(
        "bis heute um {t} Uhr",
        "bis morgen um {t} Uhr",
        "bis {day} um {t} Uhr",
        "bis zum {d}. {month} um {t} Uhr",
        ("Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"),
        (
            "Januar",
            "Februar",
            "März",
            "April",
            "Mai",
            "Juni",
            "Juli",
            "August",
            "September",
            "Oktober",
            "November",
            "Dezember",
        ),
    ),
    "fr": Phrases(
        "avant {t} aujourd'hui",
        "demain avant {t}",
        "{day} avant {t}",
        "le {d} {month} avant {t}",
        ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"),
        (
            "janvier",
            "février",
            "mars",
            "avril",
            "mai",
            "juin",
            "juillet",
            "août",
            "septembre",
            "octobre",
            "novembre",
            "décembre",
        ),
    ),
    "pl": Phrases(
        "dzisiaj do {t}",
        "jutro do {t}",
        "{day} do {t}",
        "{d} {month} do {t}",
        ("w poniedziałek", "we wtorek", "w środę", "w czwartek", "w piątek", "w sobotę", "w niedzielę"),
        (
            "stycznia",
            "lutego",
            "marca",
            "kwietnia",
            "maja",
            "czerwca",
            "lipca",
            "sierpnia",
            "września",
            "października",
            "listopada",
            "grudnia",
        ),
    ),
    "ro": Phrases(
        "până azi la {t}",
        "până mâine la {t}",
        "până {day} la {t}",
        "până pe {d} {month} la {t}",
        ("luni", "marți", "miercuri", "joi", "vineri", "sâmbătă", "duminică"),
        (
            "ianuarie",
            "februarie",
            "martie",
            "aprilie",
            "mai",
            "iunie",
            "iulie",
            "august",
            "septembrie",
            "octombrie",
            "noiembrie",
            "decembrie",
        ),
    ),
    "ru": Phrases(
        "сегодня до {t}",
        "завтра до {t}",
        "{day} до {t}",
        "{d} {month} до {t}",
        ("в понедельник", "во вторник", "в среду", "в четверг", "в пятницу", "в субботу", "в воскресенье"),
        (
            "января",
            "февраля",
            "марта",
            "апреля",
            "мая",
            "июня",
            "июля",
            "августа",
            "сентября",
            "октября",
            "ноября",
            "декабря",
        ),
    ),
}


def clock_time(at: datetime) -> str:
    """A local time as ``H:MM`` (9:00, 17:30)."""
    return f"{at.hour}:{at.minute:02d}"


def reply_by_phrase(deadline: datetime, now: datetime, zone: tzinfo, language: str) -> str:
    """Say when a reply will come, in `language`, in the timezone `zone`, as seen at `now`."""
    local, today = deadline.astimezone(zone), now.astimezone(zone).date()
    t = clock_time(local)
    phrases = PHRASES.get(language.split("-", 1)[0])
    if phrases is None:
        return f"{local.date().isoformat()} {t}"
    days = (local.date() - today).days
    if days <= 0:
        return phrases.today.format(t=t)
    if days == 1:
        return phrases.tomorrow.format(t=t)
    if days < 7:
        return phrases.weekday.format(t=t, day=phrases.weekdays[local.weekday()])
    return phrases.date.format(t=t, d=local.day, month=phrases.months[local.month - 1])


def reply_by_values(deadline: datetime, now: datetime, zone: tzinfo, language: str) -> dict[str, str]:
    """The template values `reply_by` and `reply_by_time` for a promised reply time."""
    return {
        "reply_by": reply_by_phrase(deadline, now, zone, language),
        "reply_by_time": clock_time(deadline.astimezone(zone)),
    }
