"""`digest worker` and `digest send`: sending approved editions."""

from __future__ import annotations

import functools
import logging
import signal
import threading
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from digest.cli import App, UsageProblem, cli, cli_actor, console, logs, pass_app
from digest.db import transaction
from digest.delivery import processes as processes_of
from digest.delivery import queue
from digest.delivery.sender import Settings, Worker, WorkerError
from digest.delivery.transport import Transport
from digest.models import Edition, EditionState
from digest.models.lookup import edition_by_id


def transports(app: App) -> dict[str | None, Transport]:
    """The config's transports (when there is a config file) and the default one."""
    configs = app.config.transports if Path(app.config_path).exists() else []
    return Transport.all_from(configs, app.settings)


def worker_settings(app: App) -> Settings:
    """What a worker sends with, from the command's settings."""
    return Settings(app.settings.link_keys(), app.settings.mail, app.settings.secret())


def make_worker(
    app: App, name: str, shared: Mapping[str | None, Transport] | None = None
) -> Worker:
    """A worker sending through the config's transports, or through `shared`, its share of
    their connections."""
    app.require_schema()
    shared = transports(app) if shared is None else shared
    return Worker(app.engine, worker_settings(app), shared, name=name)


def stop_on_signals(stop: threading.Event) -> None:
    """SIGTERM and SIGINT finish the messages in flight, then stop."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())


def _summary(counts: Counter[str]) -> str:
    return ", ".join(f"{count:,} {state}" for state, count in sorted(counts.items())) or "nothing"


@cli.command("worker")
@click.option("--name", default="worker", show_default=True, help="Unique on this machine.")
@click.option("--until-idle", is_flag=True, help="Stop when nothing is due, instead of waiting.")
@pass_app
def worker_command(app: App, name: str, until_idle: bool) -> None:
    """Send due deliveries of every edition being sent (run as many as you like on
    PostgreSQL; one on SQLite)."""
    logs.setup(logging.WARNING, app.settings.log_file)
    stop = threading.Event()
    stop_on_signals(stop)
    try:
        counts = make_worker(app, name).run(stop, until_idle=until_idle)
    except WorkerError as exc:
        raise app.stopped_by(exc, details=exc.__cause__ is not None) from None
    console.print(f"Worker stopped: {_summary(counts)}.")


@cli.command("send")
@click.argument("edition_id", type=int)
@click.option(
    "--processes",
    type=click.IntRange(min=1),
    help="Worker processes sharing the send, and each transport's connections (PostgreSQL; "
    "default: one per core, at most one per connection). SQLite sends with one.",
)
@pass_app
def send_command(app: App, edition_id: int, processes: int | None) -> None:
    """Send an approved edition now, showing progress (or finish one being sent)."""
    logs.setup(logging.WARNING, app.settings.log_file)
    count = _process_count(app, processes)
    with transaction(app.require_schema()) as session:
        edition = edition_by_id(session, edition_id)
        if edition.state is not EditionState.SENDING:  # else: finish it
            started = time.perf_counter()
            counts = queue.start(session, edition, cli_actor())
            console.print(
                f"Queued {sum(counts.values()):,} deliveries "
                f"in {time.perf_counter() - started:.1f} s."
            )
    with app.sessions() as session:
        before = queue.progress(session, edition_id)
    total = sum(before.values())
    done_before = queue.dealt_with(before)
    shares = processes_of.share(transports(app), count)
    helpers = processes_of.Helpers(
        [_helper(app, f"send-{n}", shares[n - 1]) for n in range(2, count + 1)]
    )
    if count > 1:
        console.print(f"Sending with {count} processes.")
    stop = threading.Event()
    stop_on_signals(stop)
    columns = (TextColumn("Sending"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    # Not drawn when nobody watches (cron, a pipe): its refresh thread takes the interpreter
    # lock from the sending thread ten times a second, drawing or not.
    with Progress(
        *columns,
        console=console,
        transient=False,
        disable=not console.is_terminal,
        refresh_per_second=4,
    ) as bar:
        task = bar.add_task("send", total=total, completed=done_before)

        def update(recorded: Counter[str]) -> None:  # the workers' own counts: no query
            finished = sum(n for state, n in recorded.items() if state != "deferred")
            bar.update(task, completed=min(total, done_before + finished))

        try:
            each = helpers.run_beside(make_worker(app, "send", shares[0]), stop, update)
        except WorkerError as exc:
            raise app.stopped_by(exc, details=exc.__cause__ is not None) from None
        bar.update(task, completed=total)
    with app.sessions() as session:
        counts = queue.progress(session, edition_id)
        state = session.get(Edition, edition_id).state
    console.print(
        f"Edition {edition_id} is {state}: "
        + ", ".join(f"{n:,} {s}" for s, n in counts.items() if n)
        + "."
    )
    if count > 1:
        shares_sent = " and ".join(f"{sum(c.values()):,}" for c in each)
        console.print(f"The {count} processes recorded {shares_sent} outcomes.")


def _process_count(app: App, asked: int | None) -> int:
    """How many processes send: one on SQLite (one writer at a time); else as asked, or one
    per core, and no more than each transport has connections to share."""
    if app.engine.dialect.name != "postgresql":
        if asked is not None and asked > 1:
            raise UsageProblem(
                "SQLite allows one writer at a time, so an edition is sent with one process: "
                "use PostgreSQL to send with more"
            )
        return 1
    return min(asked or processes_of.cores(), processes_of.most_processes(transports(app)))


def _helper(app: App, name: str, shared: dict[str | None, Transport]) -> processes_of.HelperSpec:
    return processes_of.HelperSpec(
        database_url=app.database_url,
        settings=worker_settings(app),
        transports=shared,
        name=name,
        setup_logging=functools.partial(logs.setup, logging.WARNING, app.settings.log_file),
    )


@cli.group()
def bounces() -> None:
    """Returned mail: bounces, complaints, unsubscribes by email."""


@bounces.command("process")
@click.argument("source", envvar="DIGEST_BOUNCE_MAILBOX")
@pass_app
def bounces_process(app: App, source: str) -> None:
    """Read returned mail from SOURCE (a Maildir folder, an mbox file, or
    imaps://user:password@host/FOLDER; env DIGEST_BOUNCE_MAILBOX) and act on each message."""
    # Loaded here, not with the module: `digest send` need not wait for the parsers of mail.
    import imaplib

    from digest.delivery import bounces as bounce_mail

    keys, hash_key = app.settings.link_keys(), app.settings.secret()
    try:
        report = bounce_mail.process(app.require_schema(), source, keys, hash_key)
    except (OSError, imaplib.IMAP4.error) as exc:
        raise UsageProblem(f"cannot read {source}: {exc}") from None
    console.print(f"Processed {report.summary()}.")
