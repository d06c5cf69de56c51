"""Recording outcomes without making the connections wait for the database.

A connection's outcome is written while it begins its next message (the envelope, the body),
and waited for only before that message's point of no return, the final dot (`Recording`). So
the crash rule of `sender` holds unchanged: no message is sent before the outcome of the one
before it on its connection is recorded, and a crash repeats at most the one message in flight
on each connection. And the outcomes of connections that finish while a write is under way go
together in the next one (`Recorder`): on PostgreSQL, one prepared statement for the group,
whose Python cost in the sending thread was most of the cost of an outcome.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from digest.delivery.outcomes import Outcome, needs_transaction, new_values, record, taken_over
from digest.delivery.queue import Claimed, ClaimLost
from digest.models import DeliveryStatus
from digest.timeutil import utcnow

if TYPE_CHECKING:
    from digest.delivery.stores import Database

_Waiting = tuple[Claimed, Outcome, "asyncio.Future[DeliveryStatus]"]


class Recorder:
    """The outcomes of one event loop's connections, written through `database`. Not
    thread-safe: every caller runs in the loop that created it."""

    def __init__(
        self, database: Database, retry_delays: Sequence[timedelta], hash_key: str
    ) -> None:
        self.database, self.retry_delays, self.hash_key = database, retry_delays, hash_key
        self._waiting: list[_Waiting] = []
        self._writer: asyncio.Task[None] | None = None

    async def record(self, delivery: Claimed, outcome: Outcome) -> DeliveryStatus:
        """Write `outcome` (with others waiting, if any) and return the delivery's new status.
        Raises `ClaimLost` when the delivery is no longer this worker's (nothing written)."""
        if needs_transaction(outcome):  # a bounce suppresses the subscriber too: on its own
            return await self.database.run(
                _record_alone, delivery, outcome, self.retry_delays, self.hash_key
            )
        done: asyncio.Future[DeliveryStatus] = asyncio.get_running_loop().create_future()
        self._waiting.append((delivery, outcome, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_while_waiting())
        return await done

    async def _write_while_waiting(self) -> None:
        """Write what waits, then what came meanwhile, until nothing does. No delay is added
        to gather a group: it is whatever arrived during the previous write."""
        while self._waiting:
            group, self._waiting = self._waiting, []
            try:
                await self._write(group)
            except BaseException as exc:  # the database failed: every waiter hears it
                for _, _, done in group:
                    if not done.done():
                        done.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise

    async def _write(self, group: list[_Waiting]) -> None:
        now = utcnow()
        rows = [new_values(d, outcome, now, self.retry_delays) for d, outcome, _ in group]
        written = await self.database.write_outcomes(rows)
        lost = [delivery for delivery, _, _ in group if delivery.id not in written]
        lost_error = None
        if lost:  # another worker took these over: read what became of them, to say so
            reason = await self.database.run_alone(taken_over, lost)
            lost_error = ClaimLost(reason)
        for (delivery, _, done), row in zip(group, rows, strict=True):
            if done.done():
                continue
            if delivery.id in written:
                done.set_result(row["new_status"])
            else:
                done.set_exception(lost_error or ClaimLost(str(delivery.id)))


def _record_alone(
    db: Connection,
    delivery: Claimed,
    outcome: Outcome,
    retry_delays: Sequence[timedelta],
    hash_key: str,
) -> DeliveryStatus:
    # The time of the write itself, after any wait for its turn at the database.
    (status,) = record(db, [(delivery, outcome)], utcnow(), retry_delays, hash_key=hash_key)
    return status


class Unrecorded(Exception):
    """The outcome of a connection's previous message could not be recorded (its cause says
    why): the next message must not be committed."""


class Recording:
    """The outcomes of one connection's messages being written. A message's outcome is written
    while the next message is begun (envelope, body), and waited for before that next one's
    point of no return, the final dot: so the rule holds that no message is sent before the
    outcome of the one before is recorded, and the write costs the connection no time."""

    def __init__(self) -> None:
        self._tasks: list[asyncio.Task[None]] = []

    def start(self, write: Coroutine[Any, Any, None]) -> None:
        # Those written are forgotten; one that failed is kept for `settle` to raise.
        self._tasks = [task for task in self._tasks if not _succeeded(task)]
        self._tasks.append(asyncio.ensure_future(write))

    async def settle(self) -> None:
        """Wait until every outcome started is written; raise `Unrecorded` if one was not."""
        tasks, self._tasks = self._tasks, []
        if not tasks:
            return
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise Unrecorded(str(result)) from result


def _succeeded(task: asyncio.Task[None]) -> bool:
    return task.done() and not task.cancelled() and task.exception() is None
