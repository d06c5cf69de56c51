"""`digest scheduler` and `digest run`: the weekly cycle, alone or with everything else."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import click

from digest.cli import App, cli, console, logs, pass_app
from digest.cli.delivery import make_worker, stop_on_signals, transports
from digest.cli.supervise import Supervised
from digest.locks import LockError
from digest.scheduler.service import Scheduler


def _scheduler(app: App) -> Scheduler:
    config = Path(app.config_path)
    transports(app)  # a config whose transports cannot be read is refused now, not at 07:00
    return Scheduler(
        app.engine, app.settings, config_path=str(config.resolve()) if config.exists() else None
    )


@cli.command("scheduler")
@pass_app
def scheduler_command(app: App) -> None:
    """Run the scheduler: polls, drafts, sends and housekeeping on time. Start it on as many
    machines as you like: one runs the jobs, the others take over if it stops."""
    logs.setup(logging.INFO, app.settings.log_file)
    app.require_schema()
    stop = threading.Event()
    stop_on_signals(stop)
    console.print("Scheduler started (Ctrl+C stops it).")
    _scheduler(app).run(stop)


def _close_from_its_thread(server: Any, thread: threading.Thread) -> None:
    """Stop waitress: closed from another thread, its socket would vanish under its select()."""
    trigger = getattr(server, "trigger", None)
    if trigger is None:
        server.close()
    else:
        trigger.pull_trigger(server.close)
    thread.join(timeout=5)
    server.task_dispatcher.shutdown()


@cli.command("run")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int)
@pass_app
def run_command(app: App, host: str, port: int, threads: int) -> None:
    """The whole service in one process: the web app, the scheduler and a delivery worker."""
    from waitress.server import create_server

    from digest.cli.web import web_app

    logs.setup(logging.INFO, app.settings.log_file)
    app.require_schema()
    stop = threading.Event()
    stop_on_signals(stop)
    # Each started again after a failure; a lock directory that cannot be written stops all.
    parts = [
        Supervised("scheduler", _scheduler(app).run, stop, fatal=(LockError,)),
        Supervised("worker", make_worker(app, "run").run, stop, fatal=(LockError,)),
    ]
    server = create_server(
        web_app(app, parts),
        host=host,
        port=port,
        threads=threads,
        ident="Digest",
    )
    web = threading.Thread(target=server.run, name="web", daemon=True)
    for thread in (*parts, web):
        thread.start()
    console.print(
        f"Digest is running on http://{host}:{server.effective_port}/ with its scheduler "
        "and a delivery worker (Ctrl+C stops it)."
    )
    stop.wait()
    _close_from_its_thread(server, web)
    for part in parts:
        part.join()
    failed = next((p.failure for p in parts if p.failure is not None), None)
    if failed is not None:
        raise app.stopped_by(failed)
    console.print("Stopped.")
