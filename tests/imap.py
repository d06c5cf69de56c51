"""A real IMAP server for tests: Dovecot (Debian's dovecot-imapd), started on loopback with a
configuration of its own in a temporary folder, one user, plain-text login."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from smtp import free_port

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
USER, PASSWORD = "bounces", "imap-test-password"

CONFIG = """\
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = {uid}
{unprivileged}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u
}}
mail_location = maildir:~/Maildir
service imap-login {{
  inet_listener imap {{
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
"""


def require_dovecot() -> None:
    if Path(DOVECOT).exists():
        return
    message = "Dovecot is missing: 'apt-get install dovecot-imapd' for the IMAP tests"
    if os.environ.get("CI") == "true":
        pytest.fail(message + " (under CI=true this is a failure, not a skip)")
    pytest.skip(message)


@contextmanager
def imap_server() -> Iterator[str]:
    """Dovecot on loopback; yields the mailbox URL `imap://user:password@host:port/INBOX`."""
    require_dovecot()
    # Not under pytest's private temporary folder: Dovecot's unprivileged processes must
    # reach the mail folder.
    root = Path(tempfile.mkdtemp(prefix="digest-imap-"))
    root.chmod(0o755)
    if os.geteuid() == 0:  # mail is never stored as root: Dovecot refuses it
        owner = pwd.getpwnam("nobody")
        unprivileged = ""
    else:  # everything runs as the user running the tests
        owner = pwd.getpwuid(os.geteuid())
        unprivileged = (
            f"default_login_user = {owner.pw_name}\n"
            f"default_internal_user = {owner.pw_name}\n"
        )
    home = root / "home" / USER
    home.mkdir(parents=True)
    os.chown(home, owner.pw_uid, owner.pw_gid)
    (root / "users").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
    port = free_port()
    config = root / "dovecot.conf"
    config.write_text(
        CONFIG.format(
            root=root,
            uid=owner.pw_uid,
            gid=owner.pw_gid,
            port=port,
            unprivileged=unprivileged,
        )
    )
    process = subprocess.Popen(
        [DOVECOT, "-F", "-c", str(config)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    log = root / "dovecot.log"
                    detail = log.read_text() if log.exists() else ""
                    output = process.stdout.read().decode() if process.stdout else ""
                    raise RuntimeError(f"Dovecot did not start:\n{output}\n{detail}") from None
                time.sleep(0.05)
        yield f"imap://{USER}:{PASSWORD}@127.0.0.1:{port}/INBOX"
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(root, ignore_errors=True)
