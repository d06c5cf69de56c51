"""`digest send` on PostgreSQL sends with several worker processes sharing the edition's queue:
every subscriber gets one message, the transport's connections are divided among the
processes (never more open at once than configured), the progress and the summary are the
edition's, and a process that fails makes the command fail with its reason. On SQLite, which
has one writer at a time, it sends with one process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from delivery_helpers import DATA, sending_to
from smtp import Faults, smtp_server

from digest.delivery import queue
from digest.delivery.processes import most_processes, share
from digest.delivery.sender import worker_lock_name
from digest.delivery.transport import Transport
from digest.locks import LifetimeLock
from digest.models import Edition, EditionState

CONNECTIONS = 3  # odd, so that two processes share them unevenly: 2 and 1


def config_with_transport(folder: Path, url: str) -> Path:
    path = folder / "feeds.yaml"
    path.write_text(
        f"extends: {DATA / 'config.yaml'}\n"
        "transports:\n"
        "  - name: pair\n"
        f'    url: "{url}"\n'
        f"    connections: {CONNECTIONS}\n"
    )
    return path


def digest_send_started(
    database_url: str, edition_id: int, folder: Path, *options: str
) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "DIGEST_TOKEN_KEYS": "processes-test-key",
        "DIGEST_SECRET_KEY": "processes-test-secret",
        "DIGEST_LOG_FILE": str(folder / "digest.log"),
        "DIGEST_MAIL_URL": "maildir:default-mail",  # the default transport, unused here
    }
    return subprocess.Popen(
        [sys.executable, "-m", "digest", "--db", database_url,
         "send", str(edition_id), *options],
        env=env,
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip


def digest_send(
    database_url: str, edition_id: int, folder: Path, *options: str
) -> subprocess.CompletedProcess[str]:
    process = digest_send_started(database_url, edition_id, folder, *options)
    output, errors = process.communicate(timeout=300)
    return subprocess.CompletedProcess(process.args, process.returncode, output, errors)


@pytest.mark.parametrize(
    ("connections", "processes", "each"),
    [(4, 2, [2, 2]), (3, 2, [2, 1]), (5, 3, [2, 2, 1]), (1, 1, [1])],
)
def test_each_transports_connections_are_divided_among_the_processes(
    connections, processes, each
) -> None:
    transports = {
        None: Transport("maildir:m", connections=8),
        "relay": Transport("smtp://r", connections=connections, per_second=10),
    }
    shares = share(transports, processes)
    assert [s["relay"].connections for s in shares] == each
    assert sum(s[None].connections for s in shares) == 8
    assert all(s["relay"].per_second == 10 for s in shares)  # one budget in the database


def test_no_more_processes_than_the_smallest_transport_has_connections() -> None:
    transports = {None: Transport("maildir:m", connections=4), "one": Transport("smtp://r", 1)}
    assert most_processes(transports) == 1


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_processes_send_every_subscriber_one_message_over_the_configured_connections(
    factory, database_url, tmp_path
) -> None:
    edition_id, emails = sending_to(factory, 1200, transport="pair")
    # A dawdling server keeps every connection busy, so that they are all open at once (once
    # the second process has started) and both processes take part.
    with smtp_server(Faults(data_delay=0.01)) as (inbox, url):
        config_with_transport(tmp_path, url)
        done = digest_send(database_url, edition_id, tmp_path, "--processes", "2")
        assert done.returncode == 0, done.stderr
        assert inbox.most_connected <= CONNECTIONS
    delivered = Counter(
        recipient for _, recipients, _ in inbox.received for recipient in recipients
    )
    assert sorted(delivered) == sorted(emails)
    assert set(delivered.values()) == {1}
    with factory() as session:
        assert session.get(Edition, edition_id).state is EditionState.SENT
        counts = queue.progress(session, edition_id)
    assert counts["sent"] == 1200 and sum(counts.values()) == 1200
    assert "Sending with 2 processes." in done.stdout
    assert f"Edition {edition_id} is sent: 1,200 sent." in done.stdout
    shares = done.stdout.split("recorded ")[1].split(" outcomes")[0].split(" and ")
    assert len(shares) == 2 and sum(int(n.replace(",", "")) for n in shares) == 1200
    assert all(int(n.replace(",", "")) > 0 for n in shares)  # both took part


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sqlite_sends_with_one_process(factory, database_url, tmp_path) -> None:
    edition_id, emails = sending_to(factory, 50, transport="pair")
    with smtp_server() as (inbox, url):
        config_with_transport(tmp_path, url)
        refused = digest_send(database_url, edition_id, tmp_path, "--processes", "2")
        assert refused.returncode == 2
        assert "SQLite allows one writer" in refused.stderr
        assert inbox.received == []
        done = digest_send(database_url, edition_id, tmp_path)
        assert done.returncode == 0, done.stderr
    assert "processes" not in done.stdout
    assert sorted(r for _, recipients, _ in inbox.received for r in recipients) == sorted(emails)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_process_that_fails_fails_the_command_with_its_reason(
    factory, database_url, tmp_path
) -> None:
    edition_id, emails = sending_to(factory, 1000, transport="pair")
    # A worker of the second process's name already runs: that process cannot start.
    taken = LifetimeLock(factory.kw["bind"], worker_lock_name(f"{socket.gethostname()}:send-2"))
    assert taken.acquire()
    try:
        with smtp_server(Faults(data_delay=0.01)) as (inbox, url):
            config_with_transport(tmp_path, url)
            failed = digest_send(database_url, edition_id, tmp_path, "--processes", "2")
    finally:
        taken.release()
    assert failed.returncode == 2, failed.stdout + failed.stderr
    said = failed.stderr.strip()
    assert "send-2" in said and "already running" in said, said
    assert len(said.splitlines()) == 1, said
    with factory() as session:  # the first process stopped too, its unsent claims given back
        counts = queue.progress(session, edition_id)
    assert counts["sending"] == 0
    assert counts["sent"] == len(inbox.received) < len(emails)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize("signal_name", ["SIGTERM", "SIGINT"])
def test_a_signal_stops_every_process_with_its_messages_in_flight_finished(
    factory, database_url, tmp_path, signal_name
) -> None:
    edition_id, emails = sending_to(factory, 3000, transport="pair")
    with smtp_server(Faults(data_delay=0.01)) as (inbox, url):
        config_with_transport(tmp_path, url)
        process = digest_send_started(database_url, edition_id, tmp_path, "--processes", "2")
        deadline = time.monotonic() + 60
        while len(inbox.received) < 100:  # both processes are sending by now
            assert time.monotonic() < deadline and process.poll() is None, process.stderr
            time.sleep(0.01)
        process.send_signal(getattr(signal, signal_name))  # to the command's first process only
        output, errors = process.communicate(timeout=120)
        assert inbox.connected == 0  # every connection closed
    assert process.returncode == 0, errors
    with factory() as session:
        counts = queue.progress(session, edition_id)
        assert session.get(Edition, edition_id).state is EditionState.SENDING
    # Each message the server took is recorded as sent; the rest wait in the queue, none claimed.
    assert counts["sent"] == len(inbox.received) < len(emails)
    assert counts["sending"] == 0 and counts["queued"] == len(emails) - counts["sent"]
    assert f"Edition {edition_id} is sending: " in output
