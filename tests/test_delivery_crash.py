"""Killing the worker (kill -9) at random moments loses no delivery and repeats at most the
messages in flight: one per connection at each kill."""

from __future__ import annotations

import os
import random
import signal
import time
from collections import Counter

from delivery_helpers import add_subscribers, approved_edition, edition_state, worker_process
from smtp import smtp_server
from sqlalchemy import select

from digest.db import transaction
from digest.delivery import queue
from digest.models import Delivery, DeliveryStatus, Edition

SUBSCRIBERS = 5_000
KILLS = 5
CONNECTIONS = 4


def test_kill_9_mid_send_loses_nothing_and_repeats_only_what_was_in_flight(
    factory, database_url
) -> None:
    edition_id = approved_edition(factory)
    readers = add_subscribers(factory, SUBSCRIBERS)
    with transaction(factory) as session:
        queue.enqueue(session, session.get(Edition, edition_id))
    chooser = random.Random(20261122)
    kills = 0
    with smtp_server() as (inbox, url):
        while kills < KILLS:
            before = len(inbox.received)
            process = worker_process(database_url, url, "crash", connections=CONNECTIONS)
            deadline = time.monotonic() + 60
            while len(inbox.received) <= before and time.monotonic() < deadline:
                time.sleep(0.01)  # wait until it is sending
            time.sleep(chooser.uniform(0, 0.4))
            if process.poll() is not None:
                break  # it finished before the kill
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
            kills += 1
            reached = {to for _, (to,), _ in inbox.received}
            assert len(reached) < SUBSCRIBERS, "each kill must land mid-send"
        final = worker_process(database_url, url, "crash", connections=CONNECTIONS)
        _, err = final.communicate(timeout=300)
        assert final.returncode == 0, err.decode()
    assert kills == KILLS
    received = Counter(to for _, (to,), _ in inbox.received)
    assert set(received) == set(readers)  # none missing
    repeats = sum(n - 1 for n in received.values())
    assert repeats <= kills * CONNECTIONS, f"{repeats} repeats after {kills} kills"
    with factory() as session:
        states = Counter(session.scalars(select(Delivery.status)))
        assert states == {DeliveryStatus.SENT: SUBSCRIBERS}
    assert edition_state(factory, edition_id) == "sent"
    print(f"\n{kills} kills, {repeats} messages repeated, none lost")
