"""How a worker reaches the database: `SqlStore` for the SMTP connections of a transport, to
claim deliveries and record what became of each before that connection sends its next
message; `SqlLedger` for the worker's own thread. They implement the worker's `Store` and
`Ledger` (`sender`).

SQLite has one writer at a time and a write costs tens of microseconds, so the connections
take turns on one database connection without leaving the event loop. A PostgreSQL write is a
round trip to a server, so there the database connections are used asynchronously: while the
server works (on another core) the SMTP connections keep sending.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import timedelta
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

import psycopg
from sqlalchemy import Connection, Engine, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.orm import Session, sessionmaker

from digest.db import postgres_connect_args, transaction
from digest.delivery import queue, ratelimit
from digest.delivery.outcomes import RECORD, RECORD_MANY_POSTGRES, Outcome, as_arrays
from digest.delivery.recorder import Recorder
from digest.models import DeliveryStatus, Edition, EditionState, Newsletter
from digest.models import Worker as WorkerRow
from digest.timeutil import utcnow

T = TypeVar("T")
P = ParamSpec("P")
# Seconds a PostgreSQL connection may go unused before it is checked at its next use: in the
# meantime a server's idle-session timeout, or a firewall, may have closed it.
CHECK_AFTER_IDLE = 1.0
Work = Callable[Concatenate[Connection, P], T]


class Database(Protocol):
    """An event loop's way to its database connections (`TakingTurns`, `Awaited`)."""

    async def run(self, work: Work[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`work(connection, *args, **kwargs)` in a transaction of its own, committed when it
        returns."""
        ...

    async def run_alone(self, work: Work[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`work(connection, *args, **kwargs)` whose statements each stand alone, committed
        as they run."""
        ...

    async def write_outcomes(self, rows: Sequence[dict[str, Any]]) -> set[int]:
        """Write outcomes (`outcomes.new_values` rows) together, each only while its delivery
        is still its holder's; returns the ids of the deliveries written."""
        ...

    async def close(self) -> None: ...


class TakingTurns:
    """One SQLite connection shared by every SMTP connection of a worker, one at a time."""

    def __init__(self, engine: Engine, lock: AbstractContextManager[object]) -> None:
        self._connection = engine.connect()
        self._lock = lock

    async def run(self, work: Work[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        with self._lock, self._connection.begin():
            return work(self._connection, *args, **kwargs)

    run_alone = run  # a local transaction costs nothing more

    async def write_outcomes(self, rows: Sequence[dict[str, Any]]) -> set[int]:
        with self._lock, self._connection.begin():
            return {
                row["delivery_id"] for row in rows if self._connection.execute(RECORD, row).rowcount
            }

    async def close(self) -> None:
        self._connection.close()


class Awaited:
    """Two PostgreSQL connections, awaited rather than waited on: one for transactions, one
    in autocommit for statements that stand alone (one round trip each, where BEGIN and
    COMMIT would make three).

    A connection left unused for a while (a worker waiting for its rate limit) may have been
    closed by the server or a firewall: it is checked before its next use, and replaced."""

    def __init__(
        self, engine: AsyncEngine, transactions: AsyncConnection, alone: AsyncConnection
    ) -> None:
        self._engine, self._transactions, self._alone = engine, transactions, alone
        self._transactions_lock, self._alone_lock = asyncio.Lock(), asyncio.Lock()
        self._used = {"transactions": time.monotonic(), "alone": time.monotonic()}
        self._alone_driver: Any = None  # psycopg's own connection under `alone`, once asked

    @classmethod
    async def open(cls, engine: Engine) -> Awaited:
        """Connect to `engine`'s database (call it in the event loop that will use it)."""
        url = engine.url.set(drivername="postgresql+psycopg")
        pool = create_async_engine(
            url, pool_size=2, max_overflow=0, connect_args=postgres_connect_args(url)
        )
        try:
            transactions, alone = await _connect(pool), await _connect(pool)
            await alone.execution_options(isolation_level="AUTOCOMMIT")
        except BaseException:
            await pool.dispose()
            raise
        return cls(pool, transactions, alone)

    async def run(self, work: Work[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        async with self._transactions_lock:
            if await self._stale("transactions"):
                self._transactions = await self._replace(self._transactions)
            async with self._transactions.begin():
                return await self._transactions.run_sync(work, *args, **kwargs)

    async def run_alone(self, work: Work[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        async with self._alone_lock:
            if await self._stale("alone"):
                self._alone = await self._replace(self._alone, isolation_level="AUTOCOMMIT")
                self._alone_driver = None
            return await self._alone.run_sync(work, *args, **kwargs)

    async def write_outcomes(self, rows: Sequence[dict[str, Any]]) -> set[int]:
        """One prepared statement straight through psycopg, on the autocommit connection:
        SQLAlchemy's compiling and result handling cost more than the server's work here, and
        the event loop that pays for it is the one sending the mail."""
        arrays = as_arrays(rows)
        async with self._alone_lock:
            if await self._stale("alone"):
                self._alone = await self._replace(self._alone, isolation_level="AUTOCOMMIT")
                self._alone_driver = None
            if self._alone_driver is None:
                self._alone_driver = (await self._alone.get_raw_connection()).driver_connection
            driver = self._alone_driver
            try:
                cursor = await driver.execute(RECORD_MANY_POSTGRES, arrays, prepare=True)
                return {delivery_id for (delivery_id,) in await cursor.fetchall()}
            except psycopg.Error as exc:  # as SQLAlchemy would raise it, for those who catch it
                if driver.broken or driver.closed:  # as SQLAlchemy does on its own statements:
                    self._alone_driver = None  # else the pool, closing it, logs the error again
                    await self._alone.invalidate()
                raise DBAPIError.instance(RECORD_MANY_POSTGRES, arrays, exc, psycopg.Error) from exc

    async def _stale(self, which: str) -> bool:
        """Whether the connection went unused long enough to check, and the server no
        longer answers it. (Before any work, so the work is never done twice.)"""
        now, last = time.monotonic(), self._used[which]
        self._used[which] = now
        if now - last < CHECK_AFTER_IDLE:
            return False
        connection = self._transactions if which == "transactions" else self._alone
        try:
            await connection.exec_driver_sql("SELECT 1")
            await connection.commit()
        except DBAPIError:
            return True
        return False

    async def _replace(self, dead: AsyncConnection, **options: str) -> AsyncConnection:
        await dead.invalidate()
        await dead.close()
        connection = await _connect(self._engine)
        if options:
            await connection.execution_options(**options)
        return connection

    async def close(self) -> None:
        await self._transactions.close()
        await self._alone.close()
        await self._engine.dispose()


async def _connect(engine: AsyncEngine) -> AsyncConnection:
    connection = await engine.connect()
    # A commit need not wait for the disk: what matters is that the outcome is in the server
    # before the next message goes, which a crash of this process cannot undo.
    await connection.exec_driver_sql("SET synchronous_commit = off")
    await connection.commit()
    return connection


class SqlStore:
    """The worker's `Store` in the database, for the connections of one event loop: the
    queue's SQL (`queue`), the outcomes written together (`Recorder`), the rate limit's slots
    (`ratelimit`)."""

    def __init__(
        self, database: Database, retry_delays: Sequence[timedelta], hash_key: str
    ) -> None:
        self._database = database
        self._recorder = Recorder(database, retry_delays, hash_key)

    @classmethod
    async def open(
        cls,
        engine: Engine,
        write_lock: AbstractContextManager[object],
        retry_delays: Sequence[timedelta],
        hash_key: str,
    ) -> SqlStore:
        """A store on `engine`'s database (call it in the event loop that will use it). On
        SQLite its connection takes `write_lock` with the worker's other writers."""
        database: Database
        if engine.dialect.name == "postgresql":
            database = await Awaited.open(engine)
        else:
            database = TakingTurns(engine, write_lock)
        return cls(database, retry_delays, hash_key)

    async def claim(
        self, worker: str, limit: int, editions: Sequence[int], after: int
    ) -> list[queue.Claimed]:
        return await self._database.run(_claim, worker, limit, editions, after)

    async def release(self, worker: str, ids: Sequence[int]) -> int:
        return await self._database.run(_release, worker, ids)

    async def record(self, delivery: queue.Claimed, outcome: Outcome) -> DeliveryStatus:
        return await self._recorder.record(delivery, outcome)

    async def take_slots(
        self, transport: str, want: int, per_second: float | None, per_hour: int | None
    ) -> ratelimit.Grant:
        return await self._database.run(ratelimit.take, transport, want, per_second, per_hour)

    async def close(self) -> None:
        await self._database.close()


def _claim(
    db: Connection, worker: str, limit: int, editions: Sequence[int], after: int
) -> list[queue.Claimed]:
    with Session(db) as session:
        return queue.claim(session, worker, limit, editions, after=after)


def _release(db: Connection, worker: str, ids: Sequence[int]) -> int:
    with Session(db) as session:
        return queue.release(session, worker, ids)


class SqlLedger:
    """The worker's `Ledger` in the database. Every write takes `write_lock`, as the worker's
    connections do on SQLite: the process's writers take turns rather than contend for it."""

    def __init__(
        self, sessions: sessionmaker[Session], write_lock: AbstractContextManager[object]
    ) -> None:
        self._sessions, self._write_lock = sessions, write_lock

    def sign_in(self, worker: str) -> int:
        with self._write_lock, transaction(self._sessions) as session:
            found = session.get(WorkerRow, worker)
            host, pid = socket.gethostname(), os.getpid()
            if found is None:
                session.add(WorkerRow(id=worker, host=host, pid=pid))
            else:
                found.pid, found.started_at, found.seen_at = pid, utcnow(), utcnow()
            return queue.release(session, worker)

    def release_gone(self, worker: str, gone: Callable[[str], bool]) -> dict[str, int]:
        released = {}
        with self._write_lock, transaction(self._sessions) as session:
            for holder in queue.claim_holders(session):
                if holder != worker and gone(holder):
                    released[holder] = queue.release(session, holder)
        return released

    def finish(self, worker: str) -> list[int]:
        with self._write_lock, transaction(self._sessions) as session:
            finished = queue.finish_editions(session)
            session.execute(
                WorkerRow.__table__.update().where(WorkerRow.id == worker).values(seen_at=utcnow())
            )
        return finished

    def routes(self) -> list[tuple[int, str | None]]:
        query = (
            select(Edition.id, Newsletter.transport)
            .join(Newsletter)
            .where(Edition.state.in_((EditionState.SENDING, EditionState.SENT)))
        )
        with self._sessions() as session:
            return [(edition_id, name) for edition_id, name in session.execute(query)]

    def ping(self) -> None:
        with self._sessions() as session:
            session.execute(text("SELECT 1"))
