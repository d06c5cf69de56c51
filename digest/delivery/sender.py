"""The delivery worker: connections that each claim due deliveries, build each message from
its cut, send it, and record the outcome.

Crash safety comes from one rule: a connection records the outcome of its message, durably,
before it sends the next (it begins the next meanwhile; its final dot waits: see `recorder`).
Claimed deliveries that were never sent go back to the queue when the worker (or another,
seeing it gone) starts; so a crash repeats at most the one message in flight on each
connection, and loses none. A worker that loses its lifetime lock while it lives stops before
its next message, since another may already be sending its claims; and every outcome it
records checks that the delivery is still its own. The connections to a transport are
coroutines in one thread (`connections`): no contention between threads, which is what lets
one Python process keep up with a fast mail server.

The worker says what it needs of the database as two interfaces of its own: `Store`, the
queue as its connections use it, and `Ledger`, its own thread's bookkeeping. `stores`
implements them in SQL; the worker is given only the engine they are built on.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NoReturn, Protocol

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from digest.db import session_factory
from digest.delivery import queue, stores
from digest.delivery.connections import LockLost, Shared, TransportSender, WorkerError
from digest.delivery.outcomes import Outcome
from digest.delivery.ratelimit import Grant
from digest.delivery.report import send_reports
from digest.delivery.transport import Transport
from digest.locks import LifetimeLock, is_free
from digest.mailsettings import MailSettings
from digest.models import DeliveryStatus
from digest.timeutil import utcnow

log = logging.getLogger(__name__)
DEAD_CLAIMS_EVERY = timedelta(seconds=30)
WAIT_FOR_SENDERS = 0.5  # seconds: how long a round of `Worker.run` waits for its senders


def worker_lock_name(worker_id: str) -> str:
    return f"worker:{worker_id}"


class Store(Protocol):
    """The queue as the connections of one transport use it, from their event loop."""

    async def claim(
        self, worker: str, limit: int, editions: Sequence[int], after: int
    ) -> list[queue.Claimed]:
        """Up to `limit` due deliveries of `editions`, now `worker`'s; looked for above
        `after` (the highest id it claimed so far) first."""
        ...

    async def release(self, worker: str, ids: Sequence[int]) -> int:
        """Give `worker`'s claims of `ids`, never sent, back to the queue; how many."""
        ...

    async def record(self, delivery: queue.Claimed, outcome: Outcome) -> DeliveryStatus:
        """Write what became of `delivery`; its new status. Raises `queue.ClaimLost`, having
        written nothing, when the delivery is no longer its claimer's."""
        ...

    async def take_slots(
        self, transport: str, want: int, per_second: float | None, per_hour: int | None
    ) -> Grant:
        """Up to `want` slots of `transport`'s rate limits (`ratelimit.take`)."""
        ...

    async def close(self) -> None: ...


class Ledger(Protocol):
    """The worker's own bookkeeping, from its own thread: one transaction a call."""

    def sign_in(self, worker: str) -> int:
        """Record `worker` as running on this host and process, and give the claims of its
        last run back to the queue; how many."""
        ...

    def release_gone(self, worker: str, gone: Callable[[str], bool]) -> dict[str, int]:
        """Give back to the queue the claims of every other worker that `gone` says is gone;
        how many of each one's."""
        ...

    def finish(self, worker: str) -> list[int]:
        """Mark the editions with nothing left queued or in flight as sent, and `worker` as
        seen now; the editions just finished."""
        ...

    def routes(self) -> list[tuple[int, str | None]]:
        """Each edition being sent (or with retries to come), with its newsletter's transport."""
        ...

    def ping(self) -> None:
        """A round trip to the database: raises its error when it cannot be reached."""
        ...


@dataclass(frozen=True)
class Settings:
    """What a worker sends with, besides its transports."""

    keys: list[str]  # the keys of subscribers' links and of the VERP return paths
    mail: MailSettings
    # Keys the suppression list's hashes, for addresses that bounce while sending.
    hash_key: str
    batch_size: int = 200
    retry_delays: Sequence[timedelta] = queue.RETRY_DELAYS
    idle_wait: float = 2.0  # seconds between looks at the queue when nothing is due


@dataclass
class _Run:
    """One call of `Worker.run`: what its steps share."""

    shared: Shared
    stop: threading.Event
    on_progress: Callable[[Counter[str]], None] | None
    senders: dict[str | None, TransportSender] = field(default_factory=dict)
    dead_claims_checked_at: datetime = field(default_factory=utcnow)

    def alive(self) -> list[TransportSender]:
        return [sender for sender in self.senders.values() if sender.is_alive()]


def _raise(failure: BaseException) -> NoReturn:
    """A connection's failure, raised in the worker's own thread: as it is when it says what
    went wrong in the worker's terms (a lost lock) or the database's; else as a WorkerError."""
    if isinstance(failure, WorkerError | DBAPIError):
        raise failure
    raise WorkerError(f"stopped: {failure}") from failure


class Worker:
    """Sends due deliveries of every edition being sent, through `transports`, on `engine`'s
    database. `name` must be unique per host."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        transports: Mapping[str | None, Transport],
        name: str = "worker",
    ) -> None:
        self.engine, self.settings, self.transports = engine, settings, transports
        self.sessions = session_factory(engine)
        self.id = f"{socket.gethostname()}:{name}"
        # SQLite has one writer at a time: this process's connections take turns.
        self._write_lock: AbstractContextManager[object] = (
            threading.Lock() if engine.dialect.name == "sqlite" else nullcontext()
        )
        self._ledger: Ledger = stores.SqlLedger(self.sessions, self._write_lock)
        self._lock = LifetimeLock(engine, worker_lock_name(self.id), label=f"worker {self.id}")
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
        run = _Run(Shared(self, until_idle, self._open_store), stop, on_progress)
        try:
            self._sign_in(run)
            while not self._round(run):
                pass
            return run.shared.counts
        finally:
            self._wind_down(run)
            self._lock.release()

    def _round(self, run: _Run) -> bool:
        """One round of the run, about twice a second; True when the run is over."""
        self._route()
        self._open_senders(run)
        self._wait_for_senders(run)
        self._report(run)
        self._pass_on_stop(run)
        self._raise_failure(run.shared)
        self._release_dead_claims_when_due(run)
        if not run.alive():
            return self._idle(run)
        if not run.shared.until_idle:
            self._finish(run.shared)
        return False

    def _sign_in(self, run: _Run) -> None:
        """Record this worker as running; queue again what its last run, or a worker since
        gone, left claimed."""
        if released := self._ledger.sign_in(self.id):
            log.info("%s: %d deliveries from my last run are queued again", self.id, released)
        self._release_dead_claims(run)

    def _route(self) -> None:
        """Which editions being sent go through which transport (unknown names: the default)."""
        routes: dict[str | None, list[int]] = {}
        for edition_id, name in self._ledger.routes():
            if name not in self.transports:
                log.warning("unknown transport %r: using the default", name)
                name = None
            routes.setdefault(name, []).append(edition_id)
        with self._routes_lock:
            self._routes = routes

    def _open_senders(self, run: _Run) -> None:
        """A sender for each transport with editions being sent, unless it has one."""
        for name in self._routes:
            if name not in run.senders:
                run.senders[name] = self._connect(run.shared, name)

    def _connect(self, shared: Shared, name: str | None) -> TransportSender:
        """The connections to transport `name`, started."""
        sender = TransportSender(shared, name, self.transports[name])
        sender.start()
        return sender

    def _wait_for_senders(self, run: _Run) -> None:
        """Wait a moment for a sender still working, or not at all if none is."""
        if alive := run.alive():
            alive[0].join(timeout=WAIT_FOR_SENDERS)

    def _report(self, run: _Run) -> None:
        """Give `on_progress` the counts so far."""
        if run.on_progress:
            with run.shared.counts_lock:
                run.on_progress(Counter(run.shared.counts))

    def _pass_on_stop(self, run: _Run) -> None:
        """Once the caller asks the run to stop, tell the connections."""
        if run.stop.is_set():
            run.shared.stopping.set()

    def _raise_failure(self, shared: Shared) -> None:
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
            self._ledger.ping()
        _raise(shared.failure)

    def _release_dead_claims_when_due(self, run: _Run) -> None:
        """Look for workers gone every `DEAD_CLAIMS_EVERY`."""
        if utcnow() - run.dead_claims_checked_at > DEAD_CLAIMS_EVERY:
            self._release_dead_claims(run)

    def _release_dead_claims(self, run: _Run) -> None:
        """Queue again the claims of workers gone (their locks free)."""
        for holder, released in self._ledger.release_gone(self.id, self._gone).items():
            log.info("%s is gone: %d of its deliveries are queued again", holder, released)
        run.dead_claims_checked_at = utcnow()

    def _gone(self, worker_id: str) -> bool:
        return is_free(self.engine, worker_lock_name(worker_id))

    def _idle(self, run: _Run) -> bool:
        """Every sender has ended: finish the editions that are done. The run is over when it
        was to end once idle, or was stopped; else it waits, and opens senders afresh when
        work comes. True when the run is over."""
        self._finish(run.shared)
        if run.shared.until_idle or run.stop.is_set():
            return True
        run.senders.clear()
        run.stop.wait(self.settings.idle_wait)
        return False

    def _finish(self, shared: Shared) -> None:
        """Mark the editions with nothing left to send as sent, and report each to its
        editors."""
        for edition_id in self._ledger.finish(self.id):
            shared.messages.forget(edition_id)
            try:
                send_reports(self.sessions, edition_id, self.transports)
            except Exception:
                log.exception("the report for edition %d was not sent", edition_id)

    def _wind_down(self, run: _Run) -> None:
        """Stop every sender, and wait while each finishes its message in flight and gives its
        other claims back."""
        run.shared.stopping.set()
        for sender in run.senders.values():
            sender.join()

    async def _open_store(self) -> Store:
        """A store for the connections of the calling event loop."""
        settings = self.settings
        return await stores.SqlStore.open(
            self.engine, self._write_lock, settings.retry_delays, settings.hash_key
        )

    def lock_intact(self) -> bool:
        return self._lock.intact()

    def editions_for(self, transport: str | None) -> list[int]:
        with self._routes_lock:
            return list(self._routes.get(transport, ()))
