"""A transport's limits belong to the account, not the process: `per_second` and `per_hour`
hold for all workers together and across restarts, because the allowance is kept in the
database. Measured where it matters, at the mail server."""

from __future__ import annotations

import re
import signal
import time
import uuid
from collections import Counter

import pytest
from delivery_helpers import ended_afterwards, limited_config, sending_to, worker_process
from smtp import smtp_server
from sqlalchemy import select

from digest.delivery.ratelimit import take
from digest.models import Delivery, DeliveryStatus
from digest.models import Worker as WorkerRow


def start_sending(factory, readers: int) -> list[str]:
    return sending_to(factory, readers, "limited")[1]


def most_in_any_second(times: list[float]) -> int:
    times = sorted(times)
    return max(sum(1 for t in times[n:] if t < start + 1.0) for n, start in enumerate(times))


def started(factory, pid: int) -> bool:
    """Whether the worker process `pid` has started (and taken back its claims)."""
    with factory() as session:
        return pid in session.scalars(select(WorkerRow.pid)).all()


def wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_worker_processes_together_keep_to_the_per_second_limit(
    factory, database_url, tmp_path
) -> None:
    per_second = 150
    # More than a worker claims at once without a limit (4 connections × 200), so that both
    # take part even the way workers claimed before.
    readers = start_sending(factory, 1000)
    run = uuid.uuid4().hex[:8]
    with smtp_server() as (inbox, url):
        config = limited_config(tmp_path, url, per_second=per_second)
        workers = [
            worker_process(database_url, url, f"paced-{n}-{run}", "--config", config)
            for n in range(2)
        ]
        with ended_afterwards(*workers):
            outcomes = [w.communicate(timeout=120) for w in workers]
    for worker, (_, errors) in zip(workers, outcomes, strict=True):
        assert worker.returncode == 0, errors.decode()
    assert sorted(to for _, (to,), _ in inbox.received) == sorted(readers)
    arrived = inbox.arrived
    # Timed where they arrive: a tenth more for the sink's own delays on a busy machine.
    assert most_in_any_second(arrived) <= per_second * 1.1 + 1
    took = max(arrived) - min(arrived)
    assert took >= (len(readers) - 1) / per_second * 0.95
    shares = [int(re.search(rb"(\d+) sent", out)[1]) for out, _ in outcomes]
    assert sum(shares) == len(readers) and min(shares) > 0, shares  # both took part


def test_a_restarted_worker_keeps_to_the_hours_count(factory, database_url, tmp_path) -> None:
    per_hour = 12
    readers = start_sending(factory, 20)
    with smtp_server() as (inbox, url):
        config = limited_config(tmp_path, url, per_hour=per_hour)
        first = worker_process(database_url, url, "hourly", "--config", config)
        with ended_afterwards(first):
            wait_for(lambda: len(inbox.received) >= per_hour, 60, "the hour's allowance to go")
            time.sleep(1.5)
            assert len(inbox.received) == per_hour  # and not one more
            first.send_signal(signal.SIGTERM)  # stops while it waits for the next hour
            _, errors = first.communicate(timeout=30)
        assert first.returncode == 0, errors.decode()
        again = worker_process(database_url, url, "hourly", "--config", config)
        with ended_afterwards(again):
            wait_for(lambda: started(factory, again.pid), 60, "the restarted worker to start")
            time.sleep(2)
            again.send_signal(signal.SIGTERM)
            _, errors = again.communicate(timeout=30)
        assert again.returncode == 0, errors.decode()
    assert len(inbox.received) == per_hour
    assert len({to for _, (to,), _ in inbox.received}) == per_hour
    with factory() as session:
        states = Counter(session.scalars(select(Delivery.status)))
    # Waiting, not lost: the rest are back in the queue for the next hour.
    assert states == {DeliveryStatus.SENT: per_hour, DeliveryStatus.QUEUED: len(readers) - per_hour}


@pytest.mark.alone
def test_slots_are_taken_in_turn_by_every_taker_and_the_hour_runs_out(factory) -> None:
    engine = factory.kw["bind"]
    grants = []
    for _ in range(3):  # as three workers would, one after another
        with engine.begin() as db:
            grants.append(take(db, "ŵ-bulk", 5, per_second=10, per_hour=12))
    assert [g.count for g in grants] == [5, 5, 2]  # the hour's 12, and no more
    # Back to back: each block starts where the one before ends, a tenth of a second apart.
    assert all(g.spacing == pytest.approx(0.1) for g in grants)
    starts = [g.first - n * 0.5 for n, g in enumerate(grants)]  # less the blocks before
    assert max(starts) - min(starts) < 0.2  # the same schedule, give or take the clock
    with engine.begin() as db:
        spent = take(db, "ŵ-bulk", 5, per_second=10, per_hour=12)
    assert spent.count == 0 and 3600 < spent.retry_after <= 3780  # the hour, counted by minute
    with engine.begin() as db:  # another transport is another account
        assert take(db, "other", 5, per_second=10, per_hour=12).count == 5
