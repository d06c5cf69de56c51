"""A worker stopped by its database or its lock directory says what happened in one line on
stderr and exits with status 2: `digest worker`, `digest send` and `digest run` alike. The
details (the traceback) are written once, to the log file."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from delivery_helpers import sending_to
from smtp import Faults, free_port, smtp_server
from tcpproxy import tcp_proxy

COMMANDS = {
    "worker": ["worker", "--name", "failing", "--until-idle"],
    "send": ["send", "{edition}"],
    "run": ["run", "--port", "{port}"],
}
RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (\w+) ", re.MULTILINE)


def digest(
    database_url: str,
    command: str,
    edition_id: int,
    log_file: Path,
    mail_url: str = "maildir:mail",
    prefix: tuple[str, ...] = (),
    cwd: Path | None = None,
) -> subprocess.Popen[str]:
    arguments = [a.format(edition=edition_id, port=free_port()) for a in COMMANDS[command]]
    env = {
        **os.environ,
        "DIGEST_MAIL_URL": mail_url,
        "DIGEST_TOKEN_KEYS": "failure-test-key",
        "DIGEST_SECRET_KEY": "failure-test-secret",
        "DIGEST_LOG_FILE": str(log_file),
    }
    return subprocess.Popen(
        [*prefix, sys.executable, "-m", "digest", "--db", database_url, *arguments],
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def assert_stopped_in_one_line(process: subprocess.Popen[str], log_file: Path, *cause: str) -> str:
    try:
        _, errors = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    said = errors.strip()
    assert process.returncode == 2, said
    assert len(said.splitlines()) == 1, said
    assert "Traceback" not in said
    for words in cause:
        assert words in said.lower(), said
    logged = log_file.read_text() if log_file.exists() else ""
    assert RECORD.findall(logged).count("ERROR") == 1, logged  # the details, once
    assert "Traceback" in logged
    return said


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize("command", ["worker", "send"])
def test_a_database_that_goes_away_mid_send_stops_it_with_one_line_and_status_2(
    factory, database_url, command, tmp_path
) -> None:
    edition_id, _ = sending_to(factory, 2000)
    log_file = tmp_path / "digest.log"
    with tcp_proxy(database_url) as proxy, smtp_server(Faults(data_delay=0.01)) as (inbox, url):
        process = digest(proxy.url_for(database_url), command, edition_id, log_file, url)
        deadline = time.monotonic() + 60
        while len(inbox.received) < 50:
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.01)
        proxy.cut()
        assert_stopped_in_one_line(process, log_file, "database")


def without_override() -> tuple[str, ...]:
    """A prefix that runs a command as root without root's power to write anywhere, so that
    a read-only directory is read-only to it too."""
    if os.geteuid() != 0:
        return ()
    if shutil.which("setpriv") is None:
        pytest.fail("setpriv (util-linux) is needed to drop root's file-permission override")
    return ("setpriv", "--bounding-set=-dac_override,-dac_read_search", "--inh-caps=-all", "--")


def read_only_lock_directory(database: Path) -> None:
    locks = Path(f"{database}.locks")
    locks.mkdir(exist_ok=True)
    locks.chmod(0o555)


def file_for_lock_directory(database: Path) -> None:
    locks = Path(f"{database}.locks")
    if locks.exists():
        shutil.rmtree(locks)
    locks.write_text("not a directory")


def read_only_database_directory(database: Path) -> None:
    database.parent.chmod(0o555)


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize(
    "damage",
    [read_only_lock_directory, file_for_lock_directory, read_only_database_directory],
    ids=["read-only lock directory", "a file for the lock directory", "read-only directory"],
)
def test_an_unwritable_place_stops_it_with_one_line_and_status_2(
    sqlite_factory, command, damage, tmp_path
) -> None:
    edition_id, _ = sending_to(sqlite_factory, 3)
    engine = sqlite_factory.kw["bind"]
    database = Path(engine.url.database)
    engine.dispose()
    log_file = tmp_path / "logs" / "digest.log"
    log_file.parent.mkdir()
    (tmp_path / "mail").mkdir()
    damage(database)
    try:
        process = digest(
            f"sqlite:///{database}",
            command,
            edition_id,
            log_file,
            f"maildir:{tmp_path / 'mail'}",
            without_override(),
            cwd=tmp_path,
        )
        said = assert_stopped_in_one_line(process, log_file)
    finally:
        database.parent.chmod(0o755)
        if Path(f"{database}.locks").is_dir():
            Path(f"{database}.locks").chmod(0o755)
    assert str(database.parent) in said  # where the trouble is
