"""Rate limits per transport, kept in the database: a mail account's quota (an ESP's messages
a second, a relay's hourly cap) holds for every worker together and across restarts.

A worker takes *slots* (the times its messages may go) in small blocks, in one transaction
that locks the transport's `send_budgets` row:
- per second, the slots are spaced 1/per_second apart on one schedule that every taker moves
  on, so that however many workers send, the account sees one steady rate;
- per hour, the slots given out are counted by minute, and a block is cut to what the last
  hour leaves (counted a minute wide at either end, so never more than the limit in any hour).
A block covers about 50 ms of sending, so a high limit costs one transaction per block, and a
transport with no limit costs nothing at all.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import Connection, delete, func, select, update

from digest.db import insert_for
from digest.models import SendBudget, SendCount
from digest.timeutil import utcnow

BLOCK_SECONDS = 0.05  # the sending time one block of paced slots covers
HOURLY_BLOCK = 100  # at most this many slots at a time under an hourly limit alone…
HOURLY_SHARE = 360  # …and no more than this share of the hour's allowance (10 seconds' worth)
# Minutes counted against the hourly limit, besides the current one: the hour, plus a minute
# for slots used up to a minute after their time. Slots are counted in the minute of the last
# slot of their block, so a count is never earlier than the messages it stands for.
HOUR_MINUTES = 61
LATE_FLOOR = 0.02  # seconds a paced slot may be used late, at least
CHECK_STOP_EVERY = 0.5  # seconds: how soon a worker waiting for a slot notices it must stop


@dataclass(frozen=True)
class Grant:
    """Slots taken: `count` of them, the first `first` seconds from now and then one every
    `spacing` seconds. None at all (`count` 0): ask again in `retry_after` seconds."""

    count: int
    first: float = 0.0
    spacing: float = 0.0
    retry_after: float = 0.0


def take(
    db: Connection,
    transport: str,
    want: int,
    per_second: float | None,
    per_hour: int | None,
) -> Grant:
    """Take up to `want` slots of `transport`'s allowance. Call in a transaction of its own:
    it holds the transport's row locked until it ends."""
    next_slot, now = _lock_budget(db, transport)
    count = want
    if per_hour:
        minute = _minute(now)
        counted = dict(
            db.execute(
                select(SendCount.minute, SendCount.sent).where(
                    SendCount.transport == transport, SendCount.minute >= minute - HOUR_MINUTES
                )
            ).all()
        )
        count = min(count, per_hour - sum(counted.values()))
        if count <= 0:  # the hour is spent: ask again when its oldest minute leaves the count
            oldest = min(m for m, sent in counted.items() if sent > 0)
            frees_at = (oldest + HOUR_MINUTES + 1) * 60
            return Grant(0, retry_after=max(frees_at - now.timestamp(), CHECK_STOP_EVERY))
    first = spacing = 0.0
    if per_second:
        spacing = 1 / per_second
        start = max(now, next_slot or now)
        first = (start - now).total_seconds()
        db.execute(
            update(SendBudget)
            .where(SendBudget.transport == transport)
            .values(next_slot_at=start + timedelta(seconds=count * spacing))
        )
    if per_hour:
        last = now + timedelta(seconds=first + (count - 1) * spacing)
        _count(db, transport, _minute(last), count)
        db.execute(
            delete(SendCount).where(
                SendCount.transport == transport, SendCount.minute < _minute(now) - HOUR_MINUTES
            )
        )
    return Grant(count, first, spacing)


def _minute(at: datetime) -> int:
    return math.floor(at.timestamp() / 60)


def _lock_budget(db: Connection, transport: str) -> tuple[datetime | None, datetime]:
    """Lock the transport's row, made on first use; returns its next slot, and the time now
    by the database's clock on PostgreSQL (so that workers on several machines share one)."""
    if db.dialect.name == "postgresql":
        query = select(SendBudget.next_slot_at, func.clock_timestamp()).where(
            SendBudget.transport == transport
        )
        row = db.execute(query.with_for_update()).first()
        if row is None:
            db.execute(
                insert_for(db, SendBudget).values(transport=transport).on_conflict_do_nothing()
            )
            row = db.execute(query.with_for_update()).one()
        return row[0], row[1]
    # SQLite: a write first, so that this transaction holds the write lock before it reads.
    db.execute(insert_for(db, SendBudget).values(transport=transport).on_conflict_do_nothing())
    next_slot = db.scalar(select(SendBudget.next_slot_at).where(SendBudget.transport == transport))
    return next_slot, utcnow()


def _count(db: Connection, transport: str, minute: int, count: int) -> None:
    statement = insert_for(db, SendCount).values(transport=transport, minute=minute, sent=count)
    db.execute(
        statement.on_conflict_do_update(
            index_elements=[SendCount.transport, SendCount.minute],
            set_={"sent": SendCount.sent + statement.excluded.sent},
        )
    )


class Slots(Protocol):
    """Where a `Budget` takes its slots from: `take`, in a transaction of its own."""

    async def take_slots(
        self, transport: str, want: int, per_second: float | None, per_hour: int | None
    ) -> Grant: ...


def block_size(per_second: float | None, per_hour: int | None) -> int:
    """How many slots to take at a time: about 50 ms of sending when paced, else a small
    share of the hour's allowance."""
    if per_second:
        return max(1, math.floor(per_second * BLOCK_SECONDS))
    if per_hour:
        return max(1, min(HOURLY_BLOCK, per_hour // HOURLY_SHARE))
    return 0


class Budget:
    """A transport's limits as one worker's connections (coroutines in one thread) use them:
    slots taken from the database a block at a time, and handed out one a message."""

    def __init__(self, transport: str, per_second: float | None, per_hour: int | None) -> None:
        self.transport, self.per_second, self.per_hour = transport, per_second, per_hour
        self.block = block_size(per_second, per_hour)
        # A paced slot used later than this (one slot's time, at least 20 ms) would bring its
        # message too close to the next one's, another worker's perhaps: it is left unused.
        self.late = max(1 / per_second, LATE_FLOOR) if per_second else math.inf
        self._slots: deque[float] = deque()  # time.monotonic() of each slot in hand
        self._refill = asyncio.Lock()
        self._ask_again_at = 0.0

    @property
    def limited(self) -> bool:
        return self.block > 0

    async def wait(self, slots: Slots, stopping: threading.Event) -> bool:
        """Wait for a slot for the next message. False when the worker began stopping first
        (its slot, if it had one, goes unused)."""
        if not self.limited:
            return True
        while not stopping.is_set():
            slot = await self._next(slots)
            if slot is None:  # the hour is spent, for now
                await _sleep_until(self._ask_again_at, stopping)
                continue
            await _sleep_until(slot, stopping)
            if self.per_second and time.monotonic() - slot > self.late:
                continue  # woken too late (the process stalled): now it would crowd the next
            return not stopping.is_set()
        return False

    async def _next(self, slots: Slots) -> float | None:
        async with self._refill:
            if not self._slots:
                if time.monotonic() < self._ask_again_at:
                    return None
                grant = await slots.take_slots(
                    self.transport, self.block, self.per_second, self.per_hour
                )
                received = time.monotonic()
                if grant.count == 0:
                    self._ask_again_at = received + grant.retry_after
                    return None
                self._slots.extend(
                    received + grant.first + n * grant.spacing for n in range(grant.count)
                )
            return self._slots.popleft()


async def _sleep_until(moment: float, stopping: threading.Event) -> None:
    while not stopping.is_set() and (pause := moment - time.monotonic()) > 0:
        await asyncio.sleep(min(pause, CHECK_STOP_EVERY))
