"""Where the long-running commands (worker, send, scheduler, run) log: one line a record on
stderr, and everything, tracebacks included, in a log file (`DIGEST_LOG_FILE`)."""

from __future__ import annotations

import logging
from pathlib import Path

from digest.db import first_line

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_DETAILS_ONLY = "digest_details_only"  # a record meant for the log file, not for stderr


class _Where:
    """Where `setup` sent the details: a file, stderr (no file could be written), or nowhere
    yet (logging was set up by someone else)."""

    file: Path | None = None
    stderr = False


class OneLine(logging.Formatter):
    """A record in one line: an exception is named, not traced back."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{self.formatTime(record)} {record.levelname} {record.name}: {record.getMessage()}"
        if record.exc_info and record.exc_info[1] is not None:
            reason = first_line(record.exc_info[1])
            if reason not in line:
                line += f": {reason}"
        return line.replace("\n", " ")


def setup(stderr_level: int, path: Path) -> None:
    """Log to stderr (one line a record, from `stderr_level`) and, with the details, to the
    log file at `path`. Does nothing when logging is already set up (by a test runner, say)."""
    root = logging.getLogger()
    if root.handlers:
        return
    root.setLevel(logging.INFO)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # "Context impl SQLiteImpl." …
    to_stderr = logging.StreamHandler()
    to_stderr.setLevel(stderr_level)
    to_stderr.addFilter(lambda record: not getattr(record, _DETAILS_ONLY, False))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        to_file: logging.Handler = logging.FileHandler(path, encoding="utf-8")
    except OSError as exc:
        # No log file: stderr carries the details instead, so that nothing is lost.
        to_stderr.setFormatter(logging.Formatter(FORMAT))
        root.addHandler(to_stderr)
        _Where.stderr = True
        logging.getLogger("digest").warning("cannot write the log file %s: %s", path, exc)
        return
    to_stderr.setFormatter(OneLine())
    to_file.setFormatter(logging.Formatter(FORMAT))
    root.addHandler(to_stderr)
    root.addHandler(to_file)
    _Where.file = path


def log_details(summary: str, exc: BaseException) -> str:
    """Write `exc` with its traceback to the log file (only there), under `summary`; returns
    where to read it, for the one line the command prints."""
    log = logging.getLogger("digest")
    if _Where.stderr:
        log.error(summary, exc_info=exc)
    if _Where.file is None:
        return ""
    log.error(summary, exc_info=exc, extra={_DETAILS_ONLY: True})
    return f" (details in {_Where.file})"
