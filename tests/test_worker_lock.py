"""A worker that loses its lifetime lock (the connection holding it closed by an idle-session
timeout, a connection pooler, a firewall or a DBA) stops sending its claims at once, and every
outcome it records checks that the delivery is still its own: another worker takes over, and
nobody gets a second copy."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections import Counter

import pytest
from delivery_helpers import (
    edition_state,
    ended_afterwards,
    limited_config,
    sending_to,
    worker_process,
)
from smtp import Faults, smtp_server
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from digest.db import transaction
from digest.delivery import queue
from digest.delivery.outcomes import Outcome, Result, record
from digest.delivery.sender import worker_lock_name
from digest.delivery.stores import Awaited
from digest.locks import SCOPED_KEY_SQL, LifetimeLock
from digest.models import Delivery, DeliveryStatus
from digest.timeutil import utcnow

postgres_only = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def lock_holder(factory, lock_name: str) -> tuple[int, str]:
    """The backend (pid, application_name) holding the advisory lock `lock_name` of this test's
    schema: found by the lock's own key, so no connection of another run is ever touched."""
    with factory() as session:
        key = session.scalar(
            text(f"SELECT {SCOPED_KEY_SQL.format(name=':name')}"), {"name": lock_name}
        )
        rows = session.execute(
            text(
                "SELECT l.pid, a.application_name FROM pg_locks l "
                "JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
                "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                "AND l.classid = CAST(:high AS oid) AND l.objid = CAST(:low AS oid)"
            ),
            {"high": (key >> 32) & 0xFFFFFFFF, "low": key & 0xFFFFFFFF},
        ).all()
    assert len(rows) == 1, f"expected one holder of {lock_name!r}, found {rows}"
    return rows[0]


def end_backend(factory, pid: int) -> None:
    with factory() as session:
        assert session.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})


def wait_for(condition, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@postgres_only
def test_a_worker_whose_lock_connection_is_closed_stops_and_another_sends_the_rest_once(
    factory, database_url
) -> None:
    edition_id, readers = sending_to(factory, 1500)
    run = uuid.uuid4().hex[:8]  # worker names of this run alone
    first_name, second_name = f"first-{run}", f"second-{run}"
    # A slow server keeps the first worker's claims (4 connections × 200) in hand for seconds.
    with smtp_server(Faults(data_delay=0.01)) as (inbox, url):
        first = worker_process(database_url, url, first_name)
        wait_for(lambda: len(inbox.received) >= 100)
        pid, application = lock_holder(
            factory, worker_lock_name(f"{socket.gethostname()}:{first_name}")
        )
        assert first_name in application  # a DBA can tell which worker holds it
        end_backend(factory, pid)
        second = worker_process(database_url, url, second_name)
        _, first_errors = first.communicate(timeout=120)
        _, second_errors = second.communicate(timeout=300)
    copies = Counter(to for _, (to,), _ in inbox.received)
    assert {n for n in copies.values()} == {1}, (
        f"{sum(n - 1 for n in copies.values())} second copies"
    )
    assert set(copies) == set(readers)
    assert second.returncode == 0, second_errors.decode()
    said = first_errors.decode().strip()
    assert first.returncode == 2, said
    assert "lock" in said and len(said.splitlines()) <= 2, said
    with factory() as session:
        states = Counter(session.scalars(select(Delivery.status)))
    assert states == {DeliveryStatus.SENT: len(readers)}
    assert edition_state(factory, edition_id) == "sent"


@pytest.mark.parametrize("outcomes", [1, 2], ids=["one outcome", "two outcomes at once"])
def test_an_outcome_is_not_recorded_over_a_delivery_another_worker_took_over(
    factory, outcomes: int
) -> None:
    sending_to(factory, 3)
    with transaction(factory) as session:
        mine = queue.claim(session, "host:gone", 10)
    with transaction(factory) as session:  # another worker saw "gone" without its lock
        queue.release(session, "host:gone")
        theirs = queue.claim(session, "host:alive", 10)
    assert [d.id for d in theirs] == [d.id for d in mine]
    sent = Outcome(Result.SENT, 250, "ok")
    with (
        pytest.raises(queue.ClaimLost, match="host:gone"),
        factory.kw["bind"].begin() as db,
    ):
        record(db, [(d, sent) for d in mine[:outcomes]], utcnow(), hash_key="test-key")
    with factory() as session:
        rows = session.scalars(select(Delivery).order_by(Delivery.id)).all()
        assert [(r.status, r.claimed_by, r.attempts) for r in rows] == [
            (DeliveryStatus.SENDING, "host:alive", 0)
        ] * 3


def engine_parameters(factory) -> dict[str, str]:
    with factory.kw["bind"].connect() as db:
        return db.connection.driver_connection.info.get_parameters()


def lock_parameters(factory) -> dict[str, str]:
    lock = LifetimeLock(factory.kw["bind"], "keepalive-test", label="keepalive test")
    assert lock.acquire()
    try:
        held = lock._held
        server = held.execute(text("SELECT current_setting('tcp_keepalives_idle')")).scalar()
        return {**held.connection.driver_connection.info.get_parameters(), "server": server}
    finally:
        lock.release()


def store_parameters(factory) -> dict[str, str]:
    async def parameters() -> dict[str, str]:
        store = await Awaited.open(factory.kw["bind"])
        try:
            return await store.run(lambda db: db.connection.driver_connection.info.get_parameters())
        finally:
            await store.close()

    return asyncio.run(parameters())


@postgres_only
@pytest.mark.parametrize(
    "parameters",
    [engine_parameters, lock_parameters, store_parameters],
    ids=["the app's connections", "a worker's lock", "a worker's sending connections"],
)
def test_database_connections_use_tcp_keepalives_so_a_dropped_line_is_noticed(
    factory, parameters
) -> None:
    found = parameters(factory)
    assert found["keepalives"] == "1"
    # Known dead within about half a minute of silence, not the system's two hours.
    idle, interval, count = (
        int(found[k]) for k in ("keepalives_idle", "keepalives_interval", "keepalives_count")
    )
    assert idle + interval * count <= 30
    if "server" in found:  # and the server waits longer, so the holder is first to know
        assert found["server"] in ("60", "1min")


@postgres_only
def test_a_slow_worker_rides_out_a_server_that_closes_its_idle_sessions(
    factory, database_url, tmp_path
) -> None:
    edition_id, readers = sending_to(factory, 5, "limited")
    # Every session of the worker is closed by the server after 1.5 s idle, while the
    # transport lets a message go only every 2 s: each connection idles past the timeout.
    url = make_url(database_url)
    options = f"{url.query.get('options', '')} -cidle_session_timeout=1500".strip()
    closing = url.update_query_dict({"options": options}).render_as_string(hide_password=False)
    with smtp_server() as (inbox, url):
        config = limited_config(tmp_path, url, per_second=0.5)
        worker = worker_process(closing, url, "patient", "--config", config)
        with ended_afterwards(worker):
            _, errors = worker.communicate(timeout=120)
    assert worker.returncode == 0, errors.decode()
    assert sorted(to for _, (to,), _ in inbox.received) == sorted(readers)
    assert edition_state(factory, edition_id) == "sent"
