"""`make demo` as a newcomer runs it: on the port they choose, and again on the same `var/`.

The Makefile's own targets run here, in a copy of the project's demo files, with the test's
virtual environment: the demo's data is made, the whole service runs on a free port, an editor
approves and sends the week's draft, and the emails in the Maildir link to that port. Then the
demo is set up again on the same `var/`, which must keep what is there and say so.
"""

from __future__ import annotations

import email
import email.policy
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
VENV = Path(sys.prefix)  # the environment running the tests has Digest installed
EDITOR = ("editor@demo.example", "digest-demo-password")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The files `make demo` reads, in a directory of their own (so `var/` is made there)."""
    for name in ("Makefile", "feeds.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    return tmp_path


def environment(project: Path) -> dict[str, str]:
    """This machine's environment without any Digest setting, and a secret key of the demo's
    own (made on first use, as for a newcomer)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    env["XDG_CONFIG_HOME"] = str(project / "config")
    return env


def make(project: Path, *goals: str, port: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", *goals, f"DEMO_PORT={port}", f"VENV={VENV}"],
        cwd=project,
        env=environment(project),
        capture_output=True,
        text=True,
        timeout=300,
    )


@contextmanager
def running_demo(project: Path) -> Iterator[tuple[str, int]]:
    """`make demo-run` (the demo's data, then the whole service) on a free port, stopped with
    Ctrl+C as the README says."""
    port = free_port()
    log = (project / "demo-run.log").open("w")
    process = subprocess.Popen(
        ["make", "--no-print-directory", "demo-run", f"DEMO_PORT={port}", f"VENV={VENV}"],
        cwd=project,
        env=environment(project),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: make, and the service under it
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while not _answers(f"{base}/healthz"):
            assert process.poll() is None, (project / "demo-run.log").read_text()
            assert time.monotonic() < deadline, "the demo did not start within two minutes"
            time.sleep(0.3)
        yield base, port
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def csrf(client: httpx.Client, path: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert match, f"no form on {path}"
    return match[1]


def approve_and_send(base: str) -> None:
    with httpx.Client(base_url=base, timeout=30) as client:
        signed_in = client.post(
            "/login",
            data={"email": EDITOR[0], "password": EDITOR[1], "csrf_token": csrf(client, "/login")},
        )
        assert signed_in.status_code == 302, signed_in.text
        edition = re.search(r'href="/editions/(\d+)"', client.get("/editions").text)
        assert edition, "no draft on the Editions page"
        path = f"/editions/{edition[1]}"
        for action in ("approve", "send_now"):
            client.post(f"{path}/state", data={"action": action, "csrf_token": csrf(client, path)})
        # Sending asks first; the answer is the confirmation page's own form.
        asked = client.post(
            f"{path}/state",
            data={"action": "send_now", "confirmed": "yes", "csrf_token": csrf(client, path)},
        )
        assert asked.status_code == 302, asked.text


def messages(project: Path, count: int) -> list[email.message.EmailMessage]:
    """The `count` messages the demo's worker writes to var/mail, waiting for them."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        files = list((project / "var" / "mail" / "new").glob("*"))
        if len(files) >= count:
            return [
                email.message_from_bytes(f.read_bytes(), policy=email.policy.default) for f in files
            ]
        time.sleep(0.3)
    pytest.fail(f"fewer than {count} messages in var/mail after a minute")


def links(message: email.message.EmailMessage) -> set[str]:
    text = message.get_body(("plain",)).get_content()
    head = message["List-Unsubscribe"]
    return set(re.findall(r"https?://[^\s<>\"]+", text + head))


def test_make_demo_links_to_its_port_and_starts_again_on_the_same_var(project: Path) -> None:
    with running_demo(project) as (base, port):
        approve_and_send(base)
        sent = messages(project, 5)  # the five demo subscribers
    every_link = set().union(*(links(m) for m in sent))
    ours = {link for link in every_link if link.startswith("http://127.0.0.1")}
    assert ours, every_link
    assert all(link.startswith(f"{base}/") for link in ours), sorted(ours)

    # Again, on the same var/, where this week's edition has now been sent.
    again = make(project, "demo-data", port=port)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Traceback" not in again.stdout + again.stderr
    assert "already sent: kept as it is" in again.stdout
    assert "Kept the 3 demo accounts and the 5 demo subscribers" in again.stdout
