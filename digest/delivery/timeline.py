"""A send over time: deliveries finished in each interval, the interval chosen to suit the
send's length (seconds for a send of a minute, minutes for one of hours), so that a chart of
it has some dozens of bars whether the send took forty seconds or three hours."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import BigInteger, cast, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from digest.models import Delivery, DeliveryStatus
from digest.wording import count

# Round intervals, in seconds, shortest first; the chart takes the shortest giving at most
# MOST_BARS bars (a day's send in hours is 24; a week's would be 168 hours: still readable).
STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 86400)
MOST_BARS = 60


@dataclass(frozen=True)
class Timeline:
    """Deliveries finished in each `step` from `start` (UTC), empty intervals included (a
    pause in a send shows as one). Iterating gives (start of the interval, count) pairs."""

    start: datetime
    step: timedelta
    counts: tuple[int, ...]

    def __iter__(self) -> Iterator[tuple[datetime, int]]:
        return ((self.start + i * self.step, n) for i, n in enumerate(self.counts))

    def __len__(self) -> int:
        return len(self.counts)

    def __bool__(self) -> bool:
        return bool(self.counts)

    @property
    def end(self) -> datetime:
        return self.start + len(self.counts) * self.step

    @property
    def peak(self) -> int:
        return max(self.counts, default=0)

    @property
    def interval(self) -> str:
        """The interval in words, to follow "every": "second", "5 seconds", "2 hours"."""
        seconds = int(self.step.total_seconds())
        for unit, size in (("hour", 3600), ("minute", 60), ("second", 1)):
            if seconds % size == 0:
                return unit if seconds == size else count(seconds // size, unit)
        raise AssertionError("unreachable: every step is whole seconds")

    @property
    def span(self) -> str:
        """One interval, to say a peak: "a second", "5 seconds", "a minute"."""
        return self.interval if self.interval[0].isdigit() else f"a {self.interval}"

    @property
    def to_the_second(self) -> bool:
        """Whether its times need seconds to be told apart."""
        return self.step < timedelta(minutes=1)


def step_for(length: timedelta) -> int:
    """The shortest round interval (seconds) that shows `length` in at most MOST_BARS bars."""
    seconds = length.total_seconds()
    return next((s for s in STEPS if seconds / s < MOST_BARS), STEPS[-1])


def _epoch(session: Session) -> ColumnElement[int]:
    """A delivery's finishing time in whole seconds since 1970 (UTC), in the database."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.floor(func.extract("epoch", Delivery.finished_at)), BigInteger)
    # SQLite holds naive UTC text (`UTCDateTime`), which '%s' reads as UTC.
    return cast(func.strftime("%s", Delivery.finished_at), BigInteger)


def timeline(session: Session, edition_id: int) -> Timeline:
    """The edition's deliveries finished over time (skipped ones were never sent).

    Counted by the minute in one pass, as the whole send's chart needs; only a send short
    enough to want seconds is counted again by the second (a few thousand rows at most)."""
    finished = (
        Delivery.edition_id == edition_id,
        Delivery.finished_at.is_not(None),
        Delivery.status != DeliveryStatus.SKIPPED,
    )
    epoch = _epoch(session)
    per_minute = _counted(session, epoch // 60, finished)
    if not per_minute:
        return Timeline(datetime.fromtimestamp(0, UTC), timedelta(seconds=1), ())
    minutes = sorted(per_minute)
    step = step_for(timedelta(minutes=minutes[-1] - minutes[0] + 1))
    if step >= 60:  # every step from a minute up is whole minutes
        per_second = {minute * 60: n for minute, n in per_minute.items()}
    else:
        per_second = _counted(session, epoch, finished)
        seconds = sorted(per_second)
        step = step_for(timedelta(seconds=seconds[-1] - seconds[0] + 1))
    origin = min(per_second) // step * step  # intervals on round times: 09:05, not 09:03:17
    counts = [0] * ((max(per_second) - origin) // step + 1)
    for second, n in per_second.items():
        counts[(second - origin) // step] += n
    return Timeline(datetime.fromtimestamp(origin, UTC), timedelta(seconds=step), tuple(counts))


def _counted(
    session: Session, key: ColumnElement[int], where: tuple[ColumnElement[bool], ...]
) -> dict[int, int]:
    rows = session.execute(select(key, func.count()).where(*where).group_by(key))
    return {int(k): int(n) for k, n in rows}
