"""How Digest writes times and counts for people: one date style and one date-and-time style,
always in a named timezone, and a count always with its noun in the right number.

"Tue 1 Dec 2026" and "Tue 1 Dec 2026, 09:00 GMT": day before month, as UK readers write it,
with the weekday (a newsletter goes out on a weekday) and the month abbreviated to fit a table.
Staff pages, the public archive and the emails all use these, through the Jinja filters that
`install_filters` adds, so that no page keeps a format of its own.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, pass_context
from jinja2.runtime import Context

from digest.defaults import DEFAULT_TIMEZONE

DEFAULT_ZONE_GLOBAL = "default_timezone"  # the templates' timezone when a page names none


@cache
def zone(name: str | None) -> ZoneInfo:
    return ZoneInfo(name or DEFAULT_TIMEZONE)


def moment(value: datetime | str) -> datetime:
    """An aware datetime from a stored one or its ISO text (frozen items keep ISO text); a
    naive one is UTC, as Digest stores every time."""
    found = datetime.fromisoformat(value) if isinstance(value, str) else value
    return found if found.tzinfo else found.replace(tzinfo=UTC)


def local(value: datetime | str, timezone: str | None) -> datetime:
    return moment(value).astimezone(zone(timezone))


def zone_abbreviation(when: datetime) -> str:
    """The zone's name at that moment: GMT, BST, CET, EDT; for a zone with no letters (São
    Paulo's "-03"), "UTC-03"."""
    name = when.tzname() or "UTC"
    return f"UTC{name}" if name[:1] in "+-" else name


def date_text(value: date | datetime | str, timezone: str | None = None) -> str:
    """The date as "Tue 1 Dec 2026": a time's day on the clock of `timezone`; a plain date
    (an edition's week) as it is."""
    if isinstance(value, str):
        value = date.fromisoformat(value) if len(value) == 10 else moment(value)
    shown = local(value, timezone).date() if isinstance(value, datetime) else value
    return f"{shown:%a} {shown.day} {shown:%b %Y}"


def time_text(value: datetime | str, timezone: str | None = None, seconds: bool = False) -> str:
    """The clock time, "09:00" (with `seconds`, "09:00:07"); the zone is not named."""
    shown = local(value, timezone)
    return f"{shown:%H:%M:%S}" if seconds else f"{shown:%H:%M}"


def datetime_text(value: datetime | str, timezone: str | None = None, seconds: bool = False) -> str:
    """The moment as "Tue 1 Dec 2026, 09:00 GMT": on the clock of `timezone`, the zone named."""
    shown = local(value, timezone)
    clock = time_text(shown, timezone, seconds)
    return f"{date_text(shown.date())}, {clock} {zone_abbreviation(shown)}"


def plural(noun: str) -> str:
    """The regular English plural: item → items, match → matches, entry → entries."""
    if noun.endswith(("s", "x", "z", "ch", "sh")):
        return noun + "es"
    if noun.endswith("y") and noun[-2:-1] not in ("a", "e", "i", "o", "u"):
        return noun[:-1] + "ies"
    return noun + "s"


def noun_for(number: int | None, noun: str, many: str | None = None) -> str:
    """The noun for `number` of it: "subscriber" for 1, else "subscribers" (or `many`)."""
    return noun if number == 1 else (many or plural(noun))


def number_text(number: int | None) -> str:
    """The number with thousands separated ("27,312"), as every count Digest shows."""
    return f"{number or 0:,}"


def count(number: int | None, noun: str, many: str | None = None) -> str:
    """The number and its noun: "1 subscriber", "2 subscribers", "27,312 subscribers"; `many`
    for an irregular plural."""
    return f"{number_text(number)} {noun_for(number, noun, many)}"


def duration_text(length: timedelta | float) -> str:
    """A length of time in its two largest units: "40 seconds", "3 hours 2 minutes"."""
    total = round(length.total_seconds() if isinstance(length, timedelta) else length)
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        parts = [count(hours, "hour")] + ([count(minutes, "minute")] if minutes else [])
    elif minutes:
        parts = [count(minutes, "minute")] + ([count(seconds, "second")] if seconds else [])
    else:
        parts = [count(seconds, "second")]
    return " ".join(parts)


def capitalised(text: object) -> str:
    """`text` with its first letter made a capital: a stage's reason ("this link has expired")
    shown alone, as a sentence, rather than after "Not saved: "."""
    said = str(text)
    return said[:1].upper() + said[1:]


def sentence(text: str) -> str:
    """`text` as a sentence: a capital first, a full stop last (a stage's messages are
    clauses, to be put inside other sentences). A first word that is an address is left as
    it is: its case is the person's."""
    text = text.strip()
    if not text:
        return text
    if "@" not in text.split(" ", 1)[0]:
        text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?", ".)")) else text + "."


def who(name: str, email: str) -> str:
    """ "Zoë Ødegård <zoe@例え.jp>", or the address alone for someone without a name."""
    return f"{name} <{email}>" if name else email


def _zone_of(context: Context, timezone: str | None) -> str | None:
    return timezone or context.get(DEFAULT_ZONE_GLOBAL)


@pass_context
def _date_filter(context: Context, value: Any, timezone: str | None = None) -> str:
    return "" if value is None else date_text(value, _zone_of(context, timezone))


@pass_context
def _datetime_filter(
    context: Context, value: Any, timezone: str | None = None, seconds: bool = False
) -> str:
    return "" if value is None else datetime_text(value, _zone_of(context, timezone), seconds)


@pass_context
def _time_filter(
    context: Context, value: Any, timezone: str | None = None, seconds: bool = False
) -> str:
    return "" if value is None else time_text(value, _zone_of(context, timezone), seconds)


def install_filters(environment: Environment, timezone: str = DEFAULT_TIMEZONE) -> None:
    """`|date`, `|datetime`, `|time` (each with an optional timezone name, else `timezone`),
    `|count('noun')` (or `|number` and `|noun('noun')` apart) and `|duration` in the
    templates of `environment`."""
    zone(timezone)  # an unknown name fails here, at start, not on a page
    environment.globals[DEFAULT_ZONE_GLOBAL] = timezone
    environment.filters.update(
        date=_date_filter,
        datetime=_datetime_filter,
        time=_time_filter,
        count=count,
        noun=noun_for,
        number=number_text,
        duration=duration_text,
    )
