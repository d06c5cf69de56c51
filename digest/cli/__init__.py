"""The `digest` command: a thin shell over the pipeline stages.

Exit status, decided in one place (`LazyGroup.invoke`): 0 when the command did its job (a poll
where some feeds failed still did); 2 when it could not, said in one line: an error of
`digest.errors` (bad input, an unknown name, a state that does not allow it, something away), a
database that cannot be reached or used, or a usage mistake click reports; 1 for anything
unexpected (a bug: its traceback is printed); 130 when interrupted.
"""

from __future__ import annotations

import getpass
import importlib
import os
import sys
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from digest.defaults import DEFAULT_CONFIG, DEFAULT_DATABASE_URL
from digest.errors import DigestError

# Nothing heavy is imported at module level: `digest --help` and a mistyped command answer in
# a tenth of a second, and each command imports only what it uses (SQLAlchemy alone takes
# 0.3 s, scikit-learn 1.7 s). The command modules are imported when their command runs.
if TYPE_CHECKING:
    from rich.console import Console
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker

    from digest.config import DigestConfig
    from digest.settings import Settings


@cache
def _console(stderr: bool) -> Console:
    from rich.console import Console

    # Piped output (logs, CI) gets wide tables instead of rows wrapped at 80 columns. COLUMNS is
    # the terminal's width, not a setting of Digest's.
    width = None if stderr or sys.stdout.isatty() or "COLUMNS" in os.environ else 250
    return Console(stderr=stderr, highlight=False, soft_wrap=True, width=width)


def __getattr__(name: str) -> Any:
    """`console` and `errors` (rich consoles) and `DATABASE_ERRORS`, made on first use."""
    if name == "console":
        return _console(False)
    if name == "errors":
        return _console(True)
    if name == "DATABASE_ERRORS":
        return database_error_types()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def database_error_types() -> tuple[type[BaseException], ...]:
    from sqlalchemy.exc import InterfaceError, OperationalError, ProgrammingError

    return (OperationalError, ProgrammingError, InterfaceError)


class UsageProblem(click.ClickException):
    """A config or database problem: reported plainly, exit status 2."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        _console(True).print(f"[bold red]Error:[/] {self.format_message()}", markup=True)


@dataclass
class App:
    config_path: str
    database_url: str
    _config: DigestConfig | None = field(default=None, repr=False)

    @property
    def config(self) -> DigestConfig:
        from digest.config import ConfigError, load_config

        if self._config is None:
            try:
                self._config = load_config(self.config_path)
            except ConfigError as exc:
                count = len(exc.problems)
                raise UsageProblem(
                    f"{self.config_path} has {count} "
                    f"problem{'s' if count > 1 else ''}; nothing was written.\n"
                    + "\n".join(f"  {p}" for p in exc.problems)
                ) from None
        return self._config

    @cached_property
    def settings(self) -> Settings:
        """The settings, from the environment and the options given: read on first use, so
        that a command that needs none of them cannot be stopped by a bad one."""
        from digest.settings import read_settings

        return read_settings(config_path=self.config_path, database_url=self.database_url)

    @cached_property
    def engine(self) -> Engine:
        from digest.db import make_engine

        return make_engine(self.database_url)

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        from digest.db import session_factory

        return session_factory(self.engine)

    def require_schema(self) -> sessionmaker[Session]:
        """Sessions for a database that `digest init` has prepared."""
        from digest.db import schema_revision

        if schema_revision(self.engine) is None:
            raise UsageProblem(
                f"the database {self.engine.url.render_as_string()} has no Digest "
                "schema yet: run `digest init` first"
            )
        return self.sessions

    @property
    def database_place(self) -> str:
        """Where the database is, for messages: a SQLite file, or a URL without its password."""
        url = self.engine.url
        if url.get_backend_name() == "sqlite" and url.database:
            return str(Path(url.database).resolve())
        return url.render_as_string(hide_password=True)

    def stopped_by(self, exc: BaseException, details: bool = True) -> UsageProblem:
        """`exc` said in one line (exit status 2), with its details logged once."""
        from digest.cli import logs
        from digest.db import first_line

        summary = first_line(exc)
        if isinstance(exc, database_error_types()):
            summary = f"database error at {self.database_place}: {summary}"
        return UsageProblem(summary + (logs.log_details(summary, exc) if details else ""))

    def init(self) -> str:
        from digest.config import sync_config
        from digest.db import transaction, upgrade_schema

        config = self.config  # validate before touching the database
        upgrade_schema(self.engine)
        with transaction(self.sessions) as session:
            return sync_config(session, config).summary()


def said_in_one_line(exc: Exception, app: App | None) -> UsageProblem:
    """The one mapping from an error to what the command line says (exit status 2). An
    unreachable or broken database, or a lock directory that cannot be written, is said with
    where it is, its details going to the log (if there is one); an error of
    `digest.errors` is a sentence already."""
    from digest.db import first_line
    from digest.locks import LockError

    if isinstance(exc, (*database_error_types(), LockError)):
        return app.stopped_by(exc) if app is not None else UsageProblem(first_line(exc))
    return UsageProblem(str(exc))


pass_app = click.make_pass_decorator(App)


def cli_actor() -> str:
    """Who the audit log names for a change made from the command line."""
    return f"cli:{getpass.getuser()}"


out_option = click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file instead of standard output.",
)


# Each command defined in another module: (module, its one-line help). The help is repeated
# here so that listing the commands imports none of them; a test checks that it matches.
LAZY_COMMANDS: dict[str, tuple[str, str]] = {
    "bounces": ("delivery", "Returned mail: bounces, complaints, unsubscribes by email."),
    "demo-setup": ("demo", "Demo accounts, a few subscribers, and this week's CASPAR draft."),
    "edition": ("editions", "Editions: one issue of a newsletter."),
    "feeds": ("feeds", "Feeds and their health."),
    "items": ("items", "Items found in feeds and catalogues."),
    "poll": ("feeds", "Fetch due feeds, store their new items, and report on each feed."),
    "run": (
        "service",
        "The whole service in one process: the web app, the scheduler and a delivery worker.",
    ),
    "scheduler": ("service", "Run the scheduler: polls, drafts, sends and housekeeping on time."),
    "send": (
        "delivery",
        "Send an approved edition now, showing progress (or finish one being sent).",
    ),
    "serve": ("web", "Run the staff web app under a production WSGI server (waitress)."),
    "subscribers": ("subscribers", "Subscribers: import, export, add, show, erase."),
    "users": ("web", "Staff accounts for the web app."),
    "worker": (
        "delivery",
        "Send due deliveries of every edition being sent "
        "(run as many as you like on PostgreSQL; one on SQLite).",
    ),
}


class LazyGroup(click.Group):
    """The root group: a command's module is imported when that command is used, and what a
    command could not do is said in one line."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as exc:
            # click ends `--help` with an exception too: SQLAlchemy is looked at only when it
            # is loaded already, as it is whenever a database error could have happened.
            from_database = "sqlalchemy" in sys.modules and isinstance(exc, database_error_types())
            if not (isinstance(exc, DigestError) or from_database):
                raise
            app = ctx.obj if isinstance(ctx.obj, App) else None
            raise said_in_one_line(exc, app) from None

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in LAZY_COMMANDS:
            # Importing the module registers its commands on this group.
            importlib.import_module(f"digest.cli.{LAZY_COMMANDS[cmd_name][0]}")
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        limit = formatter.width - 6 - max(len(name) for name in self.list_commands(ctx))
        for name in self.list_commands(ctx):
            if name in self.commands:
                rows.append((name, self.commands[name].get_short_help_str(limit)))
            else:
                text = LAZY_COMMANDS[name][1]
                rows.append((name, click.utils.make_default_short_help(text, limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def load_all_commands() -> None:
    """Import every command module (for tests and tools that walk the whole tree)."""
    for module, _ in LAZY_COMMANDS.values():
        importlib.import_module(f"digest.cli.{module}")


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    envvar="DIGEST_CONFIG",
    default=DEFAULT_CONFIG,
    show_default=True,
    help="The config file (env DIGEST_CONFIG).",
)
@click.option(
    "--db",
    "database_url",
    envvar="DIGEST_DATABASE_URL",
    default=DEFAULT_DATABASE_URL,
    show_default=True,
    help="SQLAlchemy database URL (env DIGEST_DATABASE_URL).",
)
@click.version_option(package_name="digest")
@click.pass_context
def cli(ctx: click.Context, config_path: str, database_url: str) -> None:
    """Digest: feeds in, curated weekly editions out."""
    ctx.obj = App(config_path, database_url)


@cli.command()
@pass_app
def init(app: App) -> None:
    """Create or upgrade the database schema and load the config into it."""
    summary = app.init()
    _console(False).print(f"Database ready at {app.engine.url.render_as_string()}. {summary}.")


@cli.group("config")
def config_group() -> None:
    """The config file."""


@config_group.command("sync")
@pass_app
def config_sync(app: App) -> None:
    """Load the config file into the database (newsletters, topics, feeds by slug or name)."""
    from digest.config import sync_config
    from digest.db import transaction

    config = app.config
    with transaction(app.require_schema()) as session:
        summary = sync_config(session, config).summary()
    _console(False).print(f"Synced {app.config_path}. {summary}.")


@config_group.command("check")
@pass_app
def config_check(app: App) -> None:
    """Validate the config file without touching the database."""
    config = app.config
    _console(False).print(
        f"{app.config_path} is valid: {len(config.newsletters)} newsletters, "
        f"{len(config.topics)} topics, {len(config.feeds)} feeds."
    )


def main() -> None:
    try:
        cli.main(prog_name="digest")
    except KeyboardInterrupt:
        _console(True).print("Interrupted.")
        sys.exit(130)
