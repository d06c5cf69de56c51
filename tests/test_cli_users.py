"""`digest users …`: staff accounts from the command line, every change audited."""

from __future__ import annotations

import re
import subprocess
import sys

from argon2 import profiles
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from digest.cli import cli
from digest.models import AuditEntry, Role, User


def test_users_add_list_set_role_disable(engine) -> None:
    db = engine.url.render_as_string(hide_password=False)
    runner = CliRunner()

    def run(*args: str, **kwargs: object):
        return runner.invoke(cli, ["--db", db, "users", *args], **kwargs)

    added = run("add", "Ann.Librarian@Example.org", "--role", "librarian", "--generate")
    assert added.exit_code == 0, added.output
    assert "Added ann.librarian@example.org as librarian." in added.output
    assert re.search(r"One-time password: \S{16}", added.output)
    prompted = run(
        "add",
        "ed@example.org",
        "--role",
        "editor",
        input="a long enough password\na long enough password\n",
    )
    assert prompted.exit_code == 0, prompted.output
    assert (
        run(
            "add", "ed@example.org", "--role", "editor", "--password", "a long enough password"
        ).exit_code
        == 2
    )
    assert (
        "at least 12 characters"
        in run("add", "x@example.org", "--role", "admin", "--password", "short").output
    )
    assert run("set-role", "ed@example.org", "admin").exit_code == 0
    assert run("disable", "ann.librarian@example.org").exit_code == 0
    listing = run("list").output
    assert "ann.librarian@example.org" in listing and "disabled" in listing
    assert run("set-role", "nobody@example.org", "admin").exit_code == 2
    with Session(engine) as session:
        roles = dict(session.execute(select(User.email, User.role)).all())
        actions = list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))
    assert roles == {"ann.librarian@example.org": Role.LIBRARIAN, "ed@example.org": Role.ADMIN}
    assert actions == ["user.create", "user.create", "user.set_role", "user.disable"]


def test_a_command_of_its_own_hashes_passwords_with_argon2s_recommended_parameters(
    engine,
) -> None:
    """The suite hashes with argon2's cheap test profile; a real process must not."""
    db = engine.url.render_as_string(hide_password=False)
    add = ["users", "add", "ann@example.org", "--role", "editor", "--password", "x" * 20]
    done = subprocess.run(
        [sys.executable, "-m", "digest", "--db", db, *add], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    with Session(engine) as session:
        stored = session.scalar(select(User.password_hash))
    wanted = profiles.RFC_9106_LOW_MEMORY
    assert stored is not None and stored.startswith(
        f"$argon2id$v=19$m={wanted.memory_cost},t={wanted.time_cost},p={wanted.parallelism}$"
    )
