"""A worker's connections to one transport: one thread, an event loop, a coroutine for each
connection, each claiming deliveries, sending them one by one and recording each outcome
(the rule that keeps a crash from losing or repeating mail: see `sender`).

What the connections need of the database is the worker's `Store` (`sender`); the worker
opens one for them in their event loop (`Shared.open_store`).
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from digest.db import first_line
from digest.delivery import queue
from digest.delivery.messages import CutError, MessageFactory
from digest.delivery.outcomes import Outcome, Result
from digest.delivery.ratelimit import Budget
from digest.delivery.recorder import Recording, Unrecorded
from digest.delivery.transport import Channel, Transport

if TYPE_CHECKING:
    from digest.delivery.dkim import Signer
    from digest.delivery.sender import Store, Worker

# Named as the worker's own log: these records said "digest.delivery.sender" before the
# connections had a module of their own, and whoever reads or filters the log still looks there.
log = logging.getLogger("digest.delivery.sender")
CLAIM_SECONDS = 2  # under a per-second limit, a connection claims this long's sending at most


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


class Shared:
    """What a worker's connections share, for one run: the worker, its store, the message
    factory, the counts, and whether to stop."""

    def __init__(
        self, worker: Worker, until_idle: bool, open_store: Callable[[], Awaitable[Store]]
    ) -> None:
        self.worker, self.settings, self.until_idle = worker, worker.settings, until_idle
        self.open_store = open_store  # in the event loop of the connections that use it
        self.messages = MessageFactory(worker.sessions, self.settings.keys, self.settings.mail)
        self.counts: Counter[str] = Counter()
        self.counts_lock = threading.Lock()
        self.stopping = threading.Event()
        self.failure: BaseException | None = None

    def fail(self, exc: BaseException) -> None:
        """Stop every connection; the first failure is the one the worker raises."""
        self.failure = self.failure or exc
        self.stopping.set()


class TransportSender(threading.Thread):
    """The connections to one transport: one thread, an event loop, a coroutine for each
    connection. One thread means no contention between connections for Python's lock."""

    def __init__(self, shared: Shared, name: str | None, transport: Transport) -> None:
        super().__init__(name=f"send-{name or 'default'}", daemon=True)
        self.shared, self.transport_name, self.transport = shared, name, transport
        self.signer: Signer | None = None
        if transport.dkim:  # loaded only here: DKIM's libraries take a second to import
            from digest.delivery.dkim import Signer

            self.signer = Signer(transport.dkim)
        self.budget = Budget(name or "", transport.per_second, transport.per_hour)
        self.claim_size = shared.settings.batch_size
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
        store = await self.shared.open_store()
        try:
            await asyncio.gather(
                *(self._connection(store) for _ in range(self.transport.connections))
            )
        finally:
            await store.close()

    async def _connection(self, store: Store) -> None:
        shared = self.shared
        channel = self.transport.open()
        recording = Recording()
        batch: list[queue.Claimed] = []
        try:
            while not shared.stopping.is_set():
                await recording.settle()  # so that a retry due now is there to be claimed
                batch = await self._claim(store)
                if not batch:
                    if shared.until_idle:
                        return
                    await asyncio.sleep(shared.settings.idle_wait)
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

    async def _give_back(self, store: Store, batch: list[queue.Claimed]) -> None:
        """Claimed, never sent: back to the queue. If the database cannot take them now, they
        go back when this worker starts again, or when another sees it gone."""
        ids = [d.id for d in batch]
        try:
            await store.release(self.shared.worker.id, ids)
        except Exception as exc:
            log.info("%d unsent deliveries stay claimed for now: %s", len(ids), first_line(exc))

    async def _claim(self, store: Store) -> list[queue.Claimed]:
        worker = self.shared.worker
        editions = worker.editions_for(self.transport_name)
        if not editions:
            return []
        await self._still_mine()
        after = self.claimed_up_to
        batch = await store.claim(worker.id, self.claim_size, editions, after)
        self.claimed_up_to = max([after, *(d.id for d in batch)])
        return batch

    async def _send(
        self,
        channel: Channel,
        store: Store,
        delivery: queue.Claimed,
        recording: Recording,
    ) -> bool:
        """Send one delivery and start recording its outcome; False if the worker began
        stopping while it waited for the transport's rate limit (the delivery is not sent)."""
        outcome = await self._attempt(channel, store, delivery, recording)
        if outcome is None:
            return False
        recording.start(self._record(store, delivery, outcome))
        return True

    async def _record(self, store: Store, delivery: queue.Claimed, outcome: Outcome) -> None:
        status = await store.record(delivery, outcome)
        with self.shared.counts_lock:
            self.shared.counts[status.value] += 1

    async def _attempt(
        self,
        channel: Channel,
        store: Store,
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
