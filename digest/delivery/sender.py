"""The delivery worker: connections that each claim due deliveries, build each message from
its cut, send it, and record the outcome.

Crash safety comes from one rule: a connection records the outcome of its message, durably,
before it sends the next (it begins the next meanwhile; its final dot waits: see `recorder`).
Claimed deliveries that were never sent go back to the queue when the worker (or another,
seeing it gone) starts; so a crash repeats at most the one message in flight on each
connection, and loses none. A worker that loses its lifetime lock while it lives stops before
its next message, since another may already be sending its claims; and every outcome it
records checks that the delivery is still its own. The connections to a transport are
coroutines in one thread: no contention between threads, which is what lets one Python
process keep up with a fast mail server."""

from __future__ import annotations

import asyncio
import logging
import math
import os
import socket
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import timedelta
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from sqlalchemy import Connection as DbConnection
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from digest.db import first_line, transaction
from digest.delivery import queue, stores
from digest.delivery.messages import CutError, MessageFactory
from digest.delivery.outcomes import Outcome, Result
from digest.delivery.ratelimit import Budget
from digest.delivery.recorder import Recorder, Recording, Unrecorded
from digest.delivery.report import send_reports
from digest.delivery.transport import Channel, Transport
from digest.keys import secret_key
from digest.locks import LifetimeLock, is_free
from digest.mailsettings import MailSettings
from digest.models import Edition, EditionState, Newsletter
from digest.models import Worker as WorkerRow
from digest.timeutil import utcnow

if TYPE_CHECKING:
    from digest.delivery.dkim import Signer

log = logging.getLogger(__name__)
DEAD_CLAIMS_EVERY = timedelta(seconds=30)
CLAIM_SECONDS = 2  # under a per-second limit, a connection claims this long's sending at most
T = TypeVar("T")


class WorkerError(RuntimeError):
    """The worker cannot start or had to stop; the message says why."""


class LockLost(WorkerError):
    """The worker's lifetime lock is gone while it lives (the database connection holding it
    was closed): another worker may take its claims over at any moment, so it sends no more."""

    def __init__(self, worker_id: str) -> None:
        super().__init__(
            f"worker {worker_id} lost its lock (the database connection holding it was "
            "closed), so it stopped sending; its unsent deliveries go to the other workers"
        )


def worker_lock_name(worker_id: str) -> str:
    return f"worker:{worker_id}"


class _Shared:
    """What a worker's connections share: the database, the message factory, the counts."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.engine: Engine = worker.factory.kw["bind"]
        # SQLite has one writer at a time: this process's connections take turns.
        self.write_lock: AbstractContextManager[object] = (
            threading.Lock() if self.engine.dialect.name == "sqlite" else nullcontext()
        )
        self.messages = MessageFactory(worker.factory, worker.keys, worker.settings)
        self.counts: Counter[str] = Counter()
        self.counts_lock = threading.Lock()
        self.stopping = threading.Event()
        self.failure: BaseException | None = None

    def fail(self, exc: BaseException) -> None:
        """Stop every connection; the first failure is the one the worker raises."""
        self.failure = self.failure or exc
        self.stopping.set()


def _in_session(db: DbConnection, work: Callable[..., T], *args: Any) -> T:
    """`work(session, *args)` with a session joining `db`'s transaction."""
    with Session(db) as session:
        return work(session, *args)


class TransportSender(threading.Thread):
    """The connections to one transport: one thread, an event loop, a coroutine for each
    connection. One thread means no contention between connections for Python's lock."""

    def __init__(self, shared: _Shared, name: str | None, transport: Transport) -> None:
        super().__init__(name=f"send-{name or 'default'}", daemon=True)
        self.shared, self.transport_name, self.transport = shared, name, transport
        self.signer: Signer | None = None
        if transport.dkim:  # loaded only here: DKIM's libraries take a second to import
            from digest.delivery.dkim import Signer

            self.signer = Signer(transport.dkim)
        self.budget = Budget(name or "", transport.per_second, transport.per_hour)
        self.claim_size = shared.worker.batch_size
        self.claimed_up_to = 0  # the queue is read on from there (`queue.claim`)
        if transport.per_second:  # what a connection may send in a few seconds, no more:
            # the rest stays in the queue for the other workers sharing the limit
            paced = math.ceil(transport.per_second * CLAIM_SECONDS / transport.connections)
            self.claim_size = max(1, min(self.claim_size, paced))

    def run(self) -> None:
        try:
            asyncio.run(self._all())
        except BaseException as exc:  # reaching the database, say: the worker says so, once
            self.shared.fail(exc)

    async def _all(self) -> None:
        engine = self.shared.engine
        store: stores.Store
        if engine.dialect.name == "postgresql":
            store = await stores.Awaited.open(engine)
        else:
            store = stores.TakingTurns(engine, self.shared.write_lock)
        worker = self.shared.worker
        self.recorder = Recorder(store, worker.retry_delays, worker.hash_key)
        try:
            await asyncio.gather(
                *(self._connection(store) for _ in range(self.transport.connections))
            )
        finally:
            await store.close()

    async def _connection(self, store: stores.Store) -> None:
        worker, shared = self.shared.worker, self.shared
        channel = self.transport.open()
        recording = Recording()
        batch: list[queue.Claimed] = []
        try:
            while not shared.stopping.is_set():
                await recording.settle()  # so that a retry due now is there to be claimed
                batch = await self._claim(store)
                if not batch:
                    if worker.until_idle:
                        return
                    await asyncio.sleep(worker.idle_wait)
                    continue
                while batch and not shared.stopping.is_set():
                    if await self._send(channel, store, batch[0], recording):
                        batch.pop(0)
        except Unrecorded as exc:
            shared.fail(exc.__cause__ or exc)
        except BaseException as exc:
            shared.fail(exc)
        finally:
            try:
                await recording.settle()
            except Unrecorded as exc:
                shared.fail(exc.__cause__ or exc)
            await channel.close()
            if batch:
                await self._give_back(store, batch)

    async def _give_back(self, store: stores.Store, batch: list[queue.Claimed]) -> None:
        """Claimed, never sent: back to the queue. If the database cannot take them now, they
        go back when this worker starts again, or when another sees it gone."""
        worker_id, ids = self.shared.worker.id, [d.id for d in batch]
        try:
            await store.run(lambda db: _in_session(db, queue.release, worker_id, ids))
        except Exception as exc:
            log.info("%d unsent deliveries stay claimed for now: %s", len(ids), first_line(exc))

    async def _claim(self, store: stores.Store) -> list[queue.Claimed]:
        worker = self.shared.worker
        editions = worker.editions_for(self.transport_name)
        if not editions:
            return []
        await self._still_mine()
        after = self.claimed_up_to
        batch = await store.run(
            lambda db: _in_session(
                db, queue.claim, worker.id, self.claim_size, editions, None, after
            )
        )
        self.claimed_up_to = max([after, *(d.id for d in batch)])
        return batch

    async def _send(
        self,
        channel: Channel,
        store: stores.Store,
        delivery: queue.Claimed,
        recording: Recording,
    ) -> bool:
        """Send one delivery and start recording its outcome; False if the worker began
        stopping while it waited for the transport's rate limit (the delivery is not sent)."""
        outcome = await self._attempt(channel, store, delivery, recording)
        if outcome is None:
            return False
        recording.start(self._record(delivery, outcome))
        return True

    async def _record(self, delivery: queue.Claimed, outcome: Outcome) -> None:
        status = await self.recorder.record(delivery, outcome)
        with self.shared.counts_lock:
            self.shared.counts[status.value] += 1

    async def _attempt(
        self,
        channel: Channel,
        store: stores.Store,
        delivery: queue.Claimed,
        recording: Recording,
    ) -> Outcome | None:
        """Build, sign and send one message. Whatever goes wrong with this one message fails
        this delivery alone, with the reason, and the connection goes on to the next. None: the
        worker began stopping while it waited for the rate limit (nothing was sent). A lost
        lock or claim, or an outcome that could not be recorded, is the worker's failure, not
        the message's: it stops the worker."""
        try:
            sender, raw = self.shared.messages.build(delivery, self.signer)
        except Exception as exc:
            return _unsendable(delivery, "its message could not be made", exc)
        if not await self.budget.wait(store, self.shared.stopping):
            return None

        async def before_the_dot() -> None:
            await self._still_mine()
            await recording.settle()

        try:
            return await channel.send(sender, delivery.email, raw, before_the_dot)
        except (WorkerError, queue.ClaimLost):
            raise
        except Unrecorded as exc:
            raise exc.__cause__ or exc from None
        except Exception as exc:
            await channel.close()  # in an unknown state: the next message starts afresh
            return _unsendable(delivery, "its message could not be handed over", exc)

    async def _still_mine(self) -> None:
        """Raise `LockLost` unless the worker still holds its lock: asked before each claim,
        and before each message's point of no return (the final dot)."""
        if not self.shared.worker.lock_intact():
            raise LockLost(self.shared.worker.id)


def _raise(failure: BaseException) -> NoReturn:
    """A connection's failure, raised in the worker's own thread: as it is when it says what
    went wrong in the worker's terms (a lost lock) or the database's; else as a WorkerError."""
    if isinstance(failure, WorkerError | DBAPIError):
        raise failure
    raise WorkerError(f"stopped: {failure}") from failure


def _unsendable(delivery: queue.Claimed, what: str, exc: Exception) -> Outcome:
    """A failed outcome saying why, logged once (with the traceback when it is not one of the
    errors that describe bad data)."""
    if isinstance(exc, ValueError):  # AddressError, MessageError, UnicodeError: the data
        reason = str(exc)
        if not isinstance(exc, CutError):  # that was logged once, for all its deliveries
            log.warning("delivery %d failed: %s", delivery.id, reason)
    else:
        reason = f"{what}: {type(exc).__name__}: {exc}"
        log.exception("delivery %d failed: %s", delivery.id, reason)
    return Outcome(Result.FAILED, None, reason)


class Worker:
    """Sends due deliveries of every edition being sent. `name` must be unique per host."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        keys: list[str],
        settings: MailSettings,
        transports: Mapping[str | None, Transport],
        name: str = "worker",
        batch_size: int = 200,
        retry_delays: Sequence[timedelta] = queue.RETRY_DELAYS,
        idle_wait: float = 2.0,
        hash_key: str | None = None,
    ) -> None:
        self.factory, self.keys, self.settings = factory, keys, settings
        # Keys the suppression list's hashes, for addresses that bounce while sending.
        self.hash_key = hash_key or secret_key()
        self.transports = transports
        self.id = f"{socket.gethostname()}:{name}"
        self.batch_size, self.retry_delays, self.idle_wait = batch_size, retry_delays, idle_wait
        self.until_idle = False
        self._lock = LifetimeLock(
            factory.kw["bind"], worker_lock_name(self.id), label=f"worker {self.id}"
        )
        self._routes: dict[str | None, list[int]] = {}
        self._routes_lock = threading.Lock()

    def run(
        self,
        stop: threading.Event | None = None,
        until_idle: bool = False,
        on_progress: Callable[[Counter[str]], None] | None = None,
    ) -> Counter[str]:
        """Send until `stop` is set (or, with `until_idle`, until nothing is due). Returns how
        many deliveries ended in each state."""
        stop = stop or threading.Event()
        if not self._lock.acquire():
            raise WorkerError(f"a worker named {self.id!r} is already running")
        self.until_idle = until_idle
        shared = _Shared(self)
        connections: dict[str | None, list[TransportSender]] = {}
        try:
            self._start(shared)
            last_check = utcnow()
            while True:
                self._route()
                for name in self._routes:
                    if name not in connections:
                        connections[name] = self._connect(shared, name)
                alive = [c for group in connections.values() for c in group if c.is_alive()]
                if alive:
                    alive[0].join(timeout=0.5)
                if on_progress:
                    with shared.counts_lock:
                        on_progress(Counter(shared.counts))
                if stop.is_set():
                    shared.stopping.set()
                self._raise_failure(shared)
                if utcnow() - last_check > DEAD_CLAIMS_EVERY:
                    self._release_dead_claims(shared)
                    last_check = utcnow()
                if not any(c.is_alive() for group in connections.values() for c in group):
                    self._finish(shared)
                    if until_idle or stop.is_set():
                        return shared.counts
                    connections.clear()  # nothing to do: new connections when work comes
                    stop.wait(self.idle_wait)
                elif not until_idle:
                    self._finish(shared)
        finally:
            shared.stopping.set()
            for group in connections.values():
                for connection in group:
                    connection.join()
            self._lock.release()

    def _raise_failure(self, shared: _Shared) -> None:
        """Raise what stopped the connections, if anything did. The lock is checked too, with
        a round trip: so a lost lock is noticed even while idle, and the lock's connection
        never looks idle to a server that closes idle sessions."""
        if not self._lock.still_held():
            shared.fail(LockLost(self.id))
        if shared.failure is None:
            return
        if isinstance(shared.failure, LockLost):
            # If the whole database went away, not just the lock's connection, its own error
            # says better what happened.
            with self.factory() as session:
                session.execute(text("SELECT 1"))
        _raise(shared.failure)

    def lock_intact(self) -> bool:
        return self._lock.intact()

    def editions_for(self, transport: str | None) -> list[int]:
        with self._routes_lock:
            return list(self._routes.get(transport, ()))

    def _route(self) -> None:
        """Which editions being sent go through which transport (unknown names: the default)."""
        routes: dict[str | None, list[int]] = {}
        with self.factory() as session:
            for edition_id, name in session.execute(
                select(Edition.id, Newsletter.transport)
                .join(Newsletter)
                .where(Edition.state.in_((EditionState.SENDING, EditionState.SENT)))
            ):
                if name not in self.transports:
                    log.warning("unknown transport %r: using the default", name)
                    name = None
                routes.setdefault(name, []).append(edition_id)
        with self._routes_lock:
            self._routes = routes

    def _connect(self, shared: _Shared, name: str | None) -> list[TransportSender]:
        sender = TransportSender(shared, name, self.transports[name])
        sender.start()
        return [sender]

    def _start(self, shared: _Shared) -> None:
        with shared.write_lock, transaction(self.factory) as session:
            found = session.get(WorkerRow, self.id)
            host, pid = socket.gethostname(), os.getpid()
            if found is None:
                session.add(WorkerRow(id=self.id, host=host, pid=pid))
            else:
                found.pid, found.started_at, found.seen_at = pid, utcnow(), utcnow()
            released = queue.release(session, self.id)
        if released:
            log.info("%s: %d deliveries from my last run are queued again", self.id, released)
        self._release_dead_claims(shared)

    def _release_dead_claims(self, shared: _Shared) -> None:
        with shared.write_lock, transaction(self.factory) as session:
            for holder in queue.claim_holders(session):
                if holder != self.id and is_free(shared.engine, worker_lock_name(holder)):
                    released = queue.release(session, holder)
                    log.info("%s is gone: %d of its deliveries are queued again", holder, released)

    def _finish(self, shared: _Shared) -> None:
        with shared.write_lock, transaction(self.factory) as session:
            finished = queue.finish_editions(session)
            session.execute(
                WorkerRow.__table__.update().where(WorkerRow.id == self.id).values(seen_at=utcnow())
            )
        for edition_id in finished:
            shared.messages.forget(edition_id)
            try:
                send_reports(self.factory, edition_id, self.transports)
            except Exception:
                log.exception("the report for edition %d was not sent", edition_id)
