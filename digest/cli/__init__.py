"""The `digest` command: a thin shell over the pipeline stages.

Exit status: 0 when the command did its job (a poll where some feeds failed still did), 1 for a
refused action, 2 for a config or database problem.
"""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property, wraps
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from sqlalchemy import Engine, select
from sqlalchemy.exc import InterfaceError, OperationalError, ProgrammingError
from sqlalchemy.orm import Session, sessionmaker

from digest.cli import logs
from digest.config import ConfigError, DigestConfig, load_config, sync_config
from digest.db import (
    DEFAULT_DATABASE_URL,
    first_line,
    make_engine,
    schema_revision,
    session_factory,
    transaction,
    upgrade_schema,
)
from digest.locks import LockError
from digest.models import Newsletter

# Piped output (logs, CI) gets wide tables instead of rows wrapped at 80 columns.
_WIDTH = None if sys.stdout.isatty() or "COLUMNS" in os.environ else 250
console = Console(highlight=False, soft_wrap=True, width=_WIDTH)
errors = Console(stderr=True, highlight=False, soft_wrap=True)
F = TypeVar("F", bound=Callable[..., Any])


class UsageProblem(click.ClickException):
    """A config or database problem: reported plainly, exit status 2."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        errors.print(f"[bold red]Error:[/] {self.format_message()}", markup=True)


@dataclass
class App:
    config_path: str
    database_url: str
    _config: DigestConfig | None = field(default=None, repr=False)

    @property
    def config(self) -> DigestConfig:
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
    def engine(self) -> Engine:
        return make_engine(self.database_url)

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        return session_factory(self.engine)

    def require_schema(self) -> sessionmaker[Session]:
        """Sessions for a database that `digest init` has prepared."""
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
        summary = first_line(exc)
        if isinstance(exc, DATABASE_ERRORS):
            summary = f"database error at {self.database_place}: {summary}"
        return UsageProblem(summary + (logs.log_details(summary, exc) if details else ""))

    def init(self) -> str:
        config = self.config  # validate before touching the database
        upgrade_schema(self.engine)
        with transaction(self.sessions) as session:
            return sync_config(session, config).summary()


DATABASE_ERRORS = (OperationalError, ProgrammingError, InterfaceError)


def database_errors(command: F) -> F:
    """Report an unreachable or broken database, or a lock directory that cannot be written,
    as one line and exit status 2, not a traceback (which goes to the log, if there is one)."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (*DATABASE_ERRORS, LockError) as exc:
            app = next((a for a in args if isinstance(a, App)), None)
            if app is None:
                raise UsageProblem(first_line(exc)) from None
            raise app.stopped_by(exc) from None

    return wrapper  # type: ignore[return-value]


pass_app = click.make_pass_decorator(App)


def newsletter_by_slug(session: Session, slug: str) -> Newsletter:
    found = session.scalar(select(Newsletter).where(Newsletter.slug == slug))
    if found is None:
        raise UsageProblem(f"no newsletter {slug!r}")
    return found


def cli_actor() -> str:
    """Who the audit log names for a change made from the command line."""
    return f"cli:{getpass.getuser()}"


out_option = click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file instead of standard output.",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    envvar="DIGEST_CONFIG",
    default="feeds.yaml",
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
@database_errors
def init(app: App) -> None:
    """Create or upgrade the database schema and load the config into it."""
    summary = app.init()
    console.print(f"Database ready at {app.engine.url.render_as_string()}. {summary}.")


@cli.group("config")
def config_group() -> None:
    """The config file."""


@config_group.command("sync")
@pass_app
@database_errors
def config_sync(app: App) -> None:
    """Load the config file into the database (newsletters, topics, feeds by slug or name)."""
    config = app.config
    with transaction(app.require_schema()) as session:
        summary = sync_config(session, config).summary()
    console.print(f"Synced {app.config_path}. {summary}.")


@config_group.command("check")
@pass_app
def config_check(app: App) -> None:
    """Validate the config file without touching the database."""
    config = app.config
    console.print(
        f"{app.config_path} is valid: {len(config.newsletters)} newsletters, "
        f"{len(config.topics)} topics, {len(config.feeds)} feeds."
    )


def main() -> None:
    try:
        cli.main(prog_name="digest")
    except KeyboardInterrupt:
        errors.print("Interrupted.")
        sys.exit(130)


from digest.cli import delivery as _delivery  # noqa: E402,F401
from digest.cli import demo as _demo  # noqa: E402,F401
from digest.cli import editions as _editions  # noqa: E402,F401
from digest.cli import feeds as _feeds  # noqa: E402,F401  (registers commands)
from digest.cli import items as _items  # noqa: E402,F401
from digest.cli import service as _service  # noqa: E402,F401
from digest.cli import subscribers as _subscribers  # noqa: E402,F401
from digest.cli import web as _web  # noqa: E402,F401
