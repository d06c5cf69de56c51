"""How a worker's SMTP connections reach the database: to claim deliveries, and to record
what became of each before that connection sends its next message.

SQLite has one writer at a time and a write costs tens of microseconds, so the connections
take turns on one database connection without leaving the event loop. A PostgreSQL write is a
round trip to a server, so there the database connections are used asynchronously: while the
server works (on another core) the SMTP connections keep sending.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol, TypeVar

import psycopg
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from digest.db import postgres_connect_args
from digest.delivery.outcomes import RECORD, RECORD_MANY_POSTGRES, as_arrays

T = TypeVar("T")
# Seconds a PostgreSQL connection may go unused before it is checked at its next use: in the
# meantime a server's idle-session timeout, or a firewall, may have closed it.
CHECK_AFTER_IDLE = 1.0
Work = Callable[[Connection], T]


class Store(Protocol):
    async def run(self, work: Work[T]) -> T:
        """`work` in a transaction of its own, committed when it returns."""
        ...

    async def run_alone(self, work: Work[T]) -> T:
        """`work` whose statements each stand alone, committed as they run."""
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

    async def run(self, work: Work[T]) -> T:
        with self._lock, self._connection.begin():
            return work(self._connection)

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

    async def run(self, work: Work[T]) -> T:
        async with self._transactions_lock:
            if await self._stale("transactions"):
                self._transactions = await self._replace(self._transactions)
            async with self._transactions.begin():
                return await self._transactions.run_sync(work)

    async def run_alone(self, work: Work[T]) -> T:
        async with self._alone_lock:
            if await self._stale("alone"):
                self._alone = await self._replace(self._alone, isolation_level="AUTOCOMMIT")
                self._alone_driver = None
            return await self._alone.run_sync(work)

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
