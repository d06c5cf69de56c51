"""Outcomes are written in groups and while the next message is begun, yet the crash rule
holds: no connection commits a message (its final dot) before the outcome of its previous one
is written, so a database that is slow or fails mid-send costs at most one repeat a connection
and never loses the record of a message sent."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from delivery_helpers import edition_state, sending_to
from smtp import smtp_server
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from digest.delivery import stores
from digest.delivery.queue import ClaimLost
from digest.delivery.recorder import Recording, Unrecorded
from digest.delivery.sender import Settings, Worker
from digest.delivery.transport import Transport
from digest.editions.message import MailSettings
from digest.models import Delivery, DeliveryStatus

CONNECTIONS = 4
READERS = 60


def worker(factory, url: str) -> Worker:
    return Worker(
        factory.kw["bind"],
        Settings(
            ["recording-test-key"],
            MailSettings("https://digest.example.org"),
            "test-hash-key",
            batch_size=10,
        ),
        {None: Transport(url, connections=CONNECTIONS)},
        name="recording",
    )


@pytest.fixture
def writes(monkeypatch):
    """How many outcomes each write stored, in order, whichever store the database uses;
    the coroutine `writes.before(rows)` runs before each (to check it, slow it, or fail it)."""

    class Writes(list):
        async def before(self, rows) -> None:
            return None

    seen = Writes()
    for store in (stores.Awaited, stores.TakingTurns):
        original = store.write_outcomes

        async def write_outcomes(self, rows, original=original):
            await seen.before(rows)
            written = await original(self, rows)
            seen.append(len(rows))
            return written

        monkeypatch.setattr(store, "write_outcomes", write_outcomes)
    return seen


def test_a_slow_database_holds_each_connection_to_one_message_not_yet_recorded(
    factory, writes
) -> None:
    edition_id, readers = sending_to(factory, READERS)
    most_ahead = []
    with smtp_server() as (inbox, url):

        async def slowly(rows) -> None:
            # Accepted by the server, not yet recorded: at most the one in flight on each
            # connection, however long the database takes.
            most_ahead.append(len(inbox.received) - sum(writes))
            await asyncio.sleep(0.02)

        writes.before = slowly
        counts = worker(factory, url).run(until_idle=True)
    assert counts == {"sent": READERS}
    assert Counter(to for _, (to,), _ in inbox.received) == dict.fromkeys(readers, 1)
    assert max(most_ahead) <= CONNECTIONS
    assert len(writes) < READERS, "outcomes that finish during a write go in the next one"
    assert edition_state(factory, edition_id) == "sent"


def test_outcomes_that_cannot_be_written_stop_the_worker_and_only_those_are_sent_again(
    factory, writes
) -> None:
    edition_id, readers = sending_to(factory, READERS)

    async def fail_after_some(rows) -> None:
        if sum(writes) >= READERS // 3:  # the database goes away mid-send
            raise OperationalError("UPDATE deliveries", {}, ConnectionError("server closed"))

    with smtp_server() as (inbox, url):
        writes.before = fail_after_some
        with pytest.raises(OperationalError, match="server closed"):
            worker(factory, url).run(until_idle=True)
        sent_before = len(inbox.received)
        recorded = sum(writes)
        assert sent_before - recorded <= CONNECTIONS, "sent before the last one was recorded"
        del writes.before  # the database is back
        counts = worker(factory, url).run(until_idle=True)
    received = Counter(to for _, (to,), _ in inbox.received)
    assert set(received) == set(readers)  # none lost
    repeats = sum(n - 1 for n in received.values())
    assert repeats == sent_before - recorded  # only those sent but not recorded go again
    assert counts["sent"] == READERS - recorded
    with factory() as session:
        assert Counter(session.scalars(select(Delivery.status))) == {
            DeliveryStatus.SENT: READERS
        }
    assert edition_state(factory, edition_id) == "sent"


def test_a_failed_write_is_not_forgotten_when_the_next_message_never_reached_its_dot() -> None:
    async def scenario() -> None:
        recording = Recording()

        async def lost() -> None:
            raise ClaimLost("delivery 1 is no longer claimed by host:me")

        async def written() -> None:
            return None

        recording.start(lost())
        await asyncio.sleep(0.01)  # its write has failed by now
        recording.start(written())  # the next message was refused before its dot
        with pytest.raises(Unrecorded) as raised:
            await recording.settle()
        assert isinstance(raised.value.__cause__, ClaimLost)

    asyncio.run(scenario())
