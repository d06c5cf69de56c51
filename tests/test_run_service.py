"""`digest run` keeps its worker and scheduler running: a part that fails (the database went
away) is started again after a pause, and `/healthz` answers 503, naming the part, while one is
not running."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

import httpx
import pytest
from delivery_helpers import edition_state, sending_to
from smtp import Faults, free_port, smtp_server
from sqlalchemy import select
from tcpproxy import tcp_proxy

from digest.cli.supervise import Supervised
from digest.delivery.sender import Settings, Worker
from digest.delivery.transport import Transport
from digest.editions.message import MailSettings
from digest.models import Delivery, DeliveryStatus
from digest.settings import read_settings
from digest.web import create_app

CONNECTIONS = 4


def wait_for(condition: Callable[[], object], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def health(port: int) -> tuple[int, str]:
    try:
        response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
    except httpx.HTTPError:
        return 0, ""
    return response.status_code, response.text


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_digest_run_rides_out_a_database_outage_and_healthz_says_what_is_down(
    factory, database_url, tmp_path
) -> None:
    edition_id, readers = sending_to(factory, 600)
    port = free_port()
    with tcp_proxy(database_url) as proxy, smtp_server(Faults(data_delay=0.01)) as (inbox, url):
        env = {
            **os.environ,
            "DIGEST_MAIL_URL": url,
            "DIGEST_MAIL_CONNECTIONS": str(CONNECTIONS),
            "DIGEST_TOKEN_KEYS": "run-test-key",
            "DIGEST_SECRET_KEY": "run-test-secret",
            "DIGEST_LOG_FILE": str(tmp_path / "digest.log"),
        }
        command = ["--db", proxy.url_for(database_url), "run", "--port", str(port)]
        process = subprocess.Popen(
            [sys.executable, "-m", "digest", *command],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            wait_for(lambda: health(port)[0] == 200, 60, "the service to start")
            wait_for(lambda: len(inbox.received) >= 50, 60, "sending to start")
            proxy.cut()
            at_cut = len(inbox.received)
            wait_for(lambda: "worker" in health(port)[1], 30, "/healthz to name the worker")
            status, body = health(port)
            assert status == 503 and "database unreachable" in body, body
            time.sleep(1)
            assert len(inbox.received) - at_cut <= CONNECTIONS  # at most those in flight
            proxy.restore()
            wait_for(lambda: health(port)[0] == 200, 90, "/healthz to say all is well again")
            sent = lambda: edition_state(factory, edition_id) == "sent"  # noqa: E731
            wait_for(sent, 120, "the edition to be sent")
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                _, errors = process.communicate(timeout=60)
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait()
    assert process.returncode == 0, errors
    restarts = [line for line in errors.splitlines() if "starting it again" in line]
    assert restarts and all("worker" in r or "scheduler" in r for r in restarts), errors
    copies = Counter(to for _, (to,), _ in inbox.received)
    assert set(copies) == set(readers)
    # Only a message in flight when the database went away can have gone twice.
    assert sum(n - 1 for n in copies.values()) <= CONNECTIONS
    with factory() as session:
        states = Counter(session.scalars(select(Delivery.status)))
    assert states == {DeliveryStatus.SENT: len(readers)}


def test_healthz_names_a_worker_that_keeps_failing_while_the_database_is_well(
    factory, database_url
) -> None:
    sending_to(factory, 2)
    worker = Worker(
        factory.kw["bind"],
        Settings(
            ["k"],
            MailSettings("https://digest.example.org"),
            "test-hash-key",
            retry_delays=[timedelta(0)] * 4,
        ),
        {None: Transport("nowhere:at-all")},  # every connection fails at once
    )
    stop = threading.Event()
    part = Supervised("worker", worker.run, stop, first_pause=0.2, longest_pause=0.2)
    settings = read_settings({}, database_url=database_url, secret_key="health-test")
    app = create_app(settings, components=[part])
    client = app.test_client()
    assert client.get("/healthz").status_code == 200  # not started yet: nothing has failed
    part.start()
    try:
        wait_for(lambda: client.get("/healthz").status_code == 503, 30, "a 503")
        response = client.get("/healthz")
        assert response.text == "worker restarting\n"
        assert response.mimetype == "text/plain"
        assert client.head("/healthz").status_code == 503  # HEAD behaves as GET
    finally:
        stop.set()
        part.join(timeout=30)
    assert not part.is_alive()
    assert client.get("/healthz").text == "worker stopped\n"


def test_a_part_that_keeps_failing_is_restarted_after_doubling_pauses_and_traced_once(
    caplog,
) -> None:
    starts: list[float] = []

    def unreachable(stop: threading.Event) -> None:
        starts.append(time.monotonic())
        raise ConnectionRefusedError("the database at db.example:5432 refused — ŵ")

    stop = threading.Event()
    part = Supervised("worker", unreachable, stop, first_pause=0.1, longest_pause=0.4)
    with caplog.at_level("ERROR", logger="digest.cli.supervise"):
        part.start()
        wait_for(lambda: len(starts) >= 5, 10, "five starts")
        assert part.problem() == "worker restarting"
        stop.set()
        part.join(timeout=10)
    pauses = [b - a for a, b in itertools.pairwise(starts)][:4]
    for pause, wanted in zip(pauses, [0.1, 0.2, 0.4, 0.4], strict=True):  # doubled, to 0.4
        assert wanted <= pause < wanted + 0.3, pauses
    failures = [r for r in caplog.records if "starting it again" in r.getMessage()]
    assert len(failures) >= 4
    assert all("refused — ŵ" in r.getMessage() for r in failures)  # one line each time
    assert [r.exc_info is not None for r in failures[:2]] == [True, False]  # traced once
