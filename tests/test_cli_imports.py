"""The command line starts fast: help and listing import nothing heavy, and what they list is
what each command says of itself."""

from __future__ import annotations

import json
import subprocess
import sys

import click
import pytest

from digest.cli import LAZY_COMMANDS, cli, load_all_commands

HEAVY = ("sklearn", "feedparser", "nh3", "httpx", "sqlalchemy", "flask", "rich", "apscheduler")


def imported_after(code: str) -> set[str]:
    """The top-level packages of HEAVY that a fresh interpreter has loaded after `code`."""
    probe = (
        "import sys\n"
        + code
        + f"\nprint(__import__('json').dumps(sorted({{m.split('.')[0] for m in sys.modules}} "
        f"& set({HEAVY!r}))))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(json.loads(done.stdout.splitlines()[-1]))


@pytest.mark.parametrize(
    "arguments",
    [["--help"], ["poll", "--help"], ["config", "--help"], ["no-such-command"]],
)
def test_help_imports_nothing_heavy(arguments: list[str]) -> None:
    code = (
        "from digest.cli import cli\n"
        f"try:\n    cli.main({arguments!r}, prog_name='digest', standalone_mode=False)\n"
        "except BaseException:\n    pass"
    )
    loaded = imported_after(code)
    if arguments[0] == "poll":
        # Showing a command's own help imports its module, not the classifier.
        assert "sklearn" not in loaded
    else:
        assert loaded == set()


def test_the_listed_help_is_each_commands_own() -> None:
    load_all_commands()
    for name, (module, text) in LAZY_COMMANDS.items():
        command = cli.commands[name]
        assert command.get_short_help_str(10**6) == text, name
        assert command.callback is None or command.callback.__module__ == f"digest.cli.{module}"


def test_every_command_is_listed() -> None:
    load_all_commands()
    assert set(cli.list_commands(click.Context(cli))) == set(cli.commands)
