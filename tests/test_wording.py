"""One way to write a time and a count: "Tue 1 Dec 2026, 09:00 GMT" on the clock of the zone
asked for, its name said (across the clock changes of London, Berlin and New York), and "1
subscriber", "27,312 subscribers"; a send charted in intervals that suit its length."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, time, timedelta

import pytest
from jinja2 import Environment

from digest.delivery.bounces import BounceReport
from digest.delivery.report import report_text
from digest.delivery.timeline import MOST_BARS, Timeline, step_for
from digest.ingest.health import feed_time
from digest.models import Edition, Newsletter
from digest.settings import SettingError, read_settings
from digest.web.dashboard import this_week
from digest.wording import (
    capitalised,
    count,
    date_text,
    datetime_text,
    duration_text,
    install_filters,
)


@pytest.mark.parametrize(
    ("zone", "moment", "shown"),
    [
        # London changes on 29 March and 25 October 2026: 09:00 local either side.
        ("Europe/London", datetime(2026, 3, 28, 9, 0, tzinfo=UTC), "Sat 28 Mar 2026, 09:00 GMT"),
        ("Europe/London", datetime(2026, 3, 30, 8, 0, tzinfo=UTC), "Mon 30 Mar 2026, 09:00 BST"),
        ("Europe/London", datetime(2026, 12, 1, 9, 0, tzinfo=UTC), "Tue 1 Dec 2026, 09:00 GMT"),
        # Berlin changes on the same days, an hour ahead of London.
        ("Europe/Berlin", datetime(2026, 10, 20, 7, 0, tzinfo=UTC), "Tue 20 Oct 2026, 09:00 CEST"),
        ("Europe/Berlin", datetime(2026, 10, 27, 8, 0, tzinfo=UTC), "Tue 27 Oct 2026, 09:00 CET"),
        # New York goes back a week later, on 1 November.
        (
            "America/New_York",
            datetime(2026, 10, 27, 13, 0, tzinfo=UTC),
            "Tue 27 Oct 2026, 09:00 EDT",
        ),
        ("America/New_York", datetime(2026, 11, 3, 14, 0, tzinfo=UTC), "Tue 3 Nov 2026, 09:00 EST"),
        # A zone without letters for its name is named by its offset.
        (
            "America/Sao_Paulo",
            datetime(2026, 12, 1, 12, 0, tzinfo=UTC),
            "Tue 1 Dec 2026, 09:00 UTC-03",
        ),
        ("UTC", datetime(2026, 12, 1, 5, 26, tzinfo=UTC), "Tue 1 Dec 2026, 05:26 UTC"),
    ],
)
def test_a_moment_is_written_on_the_zones_clock_with_the_zones_name(
    zone: str, moment: datetime, shown: str
) -> None:
    assert datetime_text(moment, zone) == shown


@pytest.mark.parametrize(
    ("zone", "shown"),
    [
        ("Europe/London", "Wed 18 Nov 2026"),
        ("Europe/Berlin", "Thu 19 Nov 2026"),  # already the next day there
        ("America/New_York", "Wed 18 Nov 2026"),
    ],
)
def test_a_date_is_the_day_on_the_zones_clock(zone: str, shown: str) -> None:
    late = datetime(2026, 11, 18, 23, 30, tzinfo=UTC)
    assert date_text(late, zone) == shown
    assert date_text(late.isoformat(), zone) == shown  # as frozen in an approved edition


def test_a_plain_date_is_written_in_the_same_style() -> None:
    assert date_text(date(2026, 11, 30)) == "Mon 30 Nov 2026"
    assert date_text("2026-11-18") == "Wed 18 Nov 2026"


def test_seconds_are_shown_when_asked_for() -> None:
    moment = datetime(2026, 7, 1, 8, 0, 7, tzinfo=UTC)
    assert datetime_text(moment, "Europe/London", seconds=True) == "Wed 1 Jul 2026, 09:00:07 BST"


@pytest.mark.parametrize(
    ("number", "noun", "shown"),
    [
        (0, "subscriber", "0 subscribers"),
        (1, "subscriber", "1 subscriber"),
        (2, "subscriber", "2 subscribers"),
        (27312, "subscriber", "27,312 subscribers"),
        (1, "duplicate", "1 duplicate"),
        (3, "match", "3 matches"),
        (2, "entry", "2 entries"),
        (2, "day", "2 days"),
        (None, "item", "0 items"),
    ],
)
def test_a_count_goes_with_its_noun_in_the_right_number(
    number: int | None, noun: str, shown: str
) -> None:
    assert count(number, noun) == shown


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (1, "1 second"),
        (40, "40 seconds"),
        (200, "3 minutes 20 seconds"),
        (3600, "1 hour"),
        (10_930, "3 hours 2 minutes"),
    ],
)
def test_a_length_of_time_is_said_in_its_two_largest_units(seconds: int, shown: str) -> None:
    assert duration_text(timedelta(seconds=seconds)) == shown


def test_a_feeds_next_try_is_said_in_the_one_style() -> None:
    assert feed_time(datetime(2026, 12, 1, 9, 0, tzinfo=UTC)) == "Tue 1 Dec 2026, 09:00 UTC"


def test_a_reason_shown_alone_starts_with_a_capital() -> None:
    assert capitalised("this confirmation link has expired") == "This confirmation link has expired"
    assert capitalised("élan") == "Élan" and capitalised("") == ""


def test_templates_get_the_same_words_through_filters() -> None:
    environment = Environment(autoescape=True)
    install_filters(environment, "Europe/Berlin")
    page = environment.from_string(
        "{{ when|datetime }} / {{ when|datetime('America/New_York') }} / {{ day|date }}"
        " / {{ n|count('subscriber') }} / {{ n|number }} {{ n|noun('item') }}"
    )
    when = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    shown = page.render(when=when, day=date(2026, 11, 30), n=1)
    assert shown == (
        "Tue 1 Dec 2026, 10:00 CET / Tue 1 Dec 2026, 04:00 EST / Mon 30 Nov 2026"
        " / 1 subscriber / 1 item"
    )


def test_the_default_timezone_is_a_setting_checked_at_start() -> None:
    assert read_settings({}).timezone == "Europe/London"
    assert read_settings({"DIGEST_TIMEZONE": "Europe/Berlin"}).timezone == "Europe/Berlin"
    with pytest.raises(SettingError, match="DIGEST_TIMEZONE must be an IANA timezone"):
        read_settings({"DIGEST_TIMEZONE": "Mars/Olympus"})


@pytest.mark.parametrize(
    ("length", "step"),
    [
        (timedelta(seconds=40), timedelta(seconds=1)),
        (timedelta(minutes=1), timedelta(seconds=2)),
        (timedelta(minutes=20), timedelta(seconds=30)),
        (timedelta(hours=3), timedelta(minutes=5)),
        (timedelta(hours=20), timedelta(minutes=30)),
    ],
)
def test_a_send_is_charted_in_intervals_that_suit_its_length(
    length: timedelta, step: timedelta
) -> None:
    chosen = step_for(length)
    assert timedelta(seconds=chosen) == step
    assert length.total_seconds() / chosen <= MOST_BARS


@pytest.mark.parametrize(
    ("step", "every", "span"),
    [
        (1, "second", "a second"),
        (5, "5 seconds", "5 seconds"),
        (60, "minute", "a minute"),
        (300, "5 minutes", "5 minutes"),
        (7200, "2 hours", "2 hours"),
    ],
)
def test_a_charts_interval_is_said_in_words(step: int, every: str, span: str) -> None:
    line = Timeline(datetime(2026, 12, 1, tzinfo=UTC), timedelta(seconds=step), (1, 2))
    assert (line.interval, line.span) == (every, span)


NEW_YORK_TUESDAYS = Newsletter(send_weekday=1, send_time=time(9, 0), timezone="America/New_York")


@pytest.mark.parametrize(
    ("now", "next_out"),
    [
        # Before New York's clocks go back on 1 November, 09:00 is 13:00 UTC; after, 14:00.
        (datetime(2026, 10, 26, 12, 0, tzinfo=UTC), "Tue 27 Oct 2026, 09:00 EDT"),
        (datetime(2026, 10, 28, 12, 0, tzinfo=UTC), "Tue 3 Nov 2026, 09:00 EST"),
    ],
)
def test_the_dashboard_gives_the_next_send_on_the_newsletters_clock(
    now: datetime, next_out: str
) -> None:
    when, sent = this_week(NEW_YORK_TUESDAYS, None, now)
    assert datetime_text(when, "America/New_York") == next_out and sent is None


def test_messages_from_the_stages_count_in_the_right_number() -> None:
    summary = BounceReport(Counter({"hard-bounce": 1}), suppressed=1).summary()
    assert summary == "1 message: 1 hard-bounce; 1 subscriber suppressed"
    start = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    edition = Edition(
        subject="CASPAR: week commencing 30 November 2026",
        newsletter=Newsletter(title="CASPAR"),
        sending_started_at=start,
        sent_at=start + timedelta(hours=3, minutes=2),
    )
    assert "has gone out in 3 hours 2 minutes." in report_text(edition, {"sent": 1})
