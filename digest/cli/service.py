"""`digest scheduler` and `digest run`: the weekly cycle, alone or with everything else."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import click

from digest.cli import App, cli, console, database_errors, pass_app
from digest.cli.delivery import make_worker, stop_on_signals, transports
from digest.scheduler.service import Scheduler


def _scheduler(app: App) -> Scheduler:
    config = Path(app.config_path)
    transports(app)  # a config whose transports cannot be read is refused now, not at 07:00
    return Scheduler(
        app.engine, app.database_url, config_path=str(config.resolve()) if config.exists() else None
    )


@cli.command("scheduler")
@pass_app
@database_errors
def scheduler_command(app: App) -> None:
    """Run the scheduler: polls, drafts, sends and housekeeping on time. Start it on as many
    machines as you like: one runs the jobs, the others take over if it stops."""
    app.require_schema()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    stop = threading.Event()
    stop_on_signals(stop)
    console.print("Scheduler started (Ctrl+C stops it).")
    _scheduler(app).run(stop)


@cli.command("run")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int)
@pass_app
@database_errors
def run_command(app: App, host: str, port: int, threads: int) -> None:
    """The whole service in one process: the web app, the scheduler and a delivery worker."""
    from waitress.server import create_server

    from digest.web import create_app

    app.require_schema()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    stop = threading.Event()
    stop_on_signals(stop)
    scheduler = threading.Thread(target=_scheduler(app).run, args=(stop,), name="scheduler")
    worker = make_worker(app, "run")
    sender = threading.Thread(target=worker.run, args=(stop,), name="worker")
    server = create_server(
        create_app(app.database_url, transports=transports(app)),
        host=host,
        port=port,
        threads=threads,
        ident="Digest",
    )
    web = threading.Thread(target=server.run, name="web", daemon=True)
    for thread in (scheduler, sender, web):
        thread.start()
    console.print(
        f"Digest is running on http://{host}:{server.effective_port}/ with its scheduler "
        "and a delivery worker (Ctrl+C stops it)."
    )
    stop.wait()
    server.close()
    for thread in (scheduler, sender):
        thread.join()
    console.print("Stopped.")
