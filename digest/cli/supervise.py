"""The parts of `digest run` that run in threads of their own (the scheduler, the worker), kept
running: after a failure (the database went away, say) a part is started again after a pause
that doubles each time, and while it is not running `/healthz` says so."""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable

from digest.db import first_line

log = logging.getLogger(__name__)
FIRST_PAUSE = 1.0  # seconds before the first restart; doubled after each failure in a row
LONGEST_PAUSE = 60.0  # and never more; a part that ran this long starts from FIRST_PAUSE again


class State(enum.StrEnum):
    STARTING = "starting"
    RUNNING = "running"
    RESTARTING = "restarting"  # failed: waiting to start again
    STOPPED = "stopped"  # for good: the process stops, or stopped it


class Supervised(threading.Thread):
    """Runs `work(stop)` until `stop` is set, starting it again after each failure. An error
    of a `fatal` kind (one that waiting cannot mend, like a lock directory that cannot be
    written) stops the whole process instead: `failure` holds it, and `stop` is set."""

    def __init__(
        self,
        name: str,
        work: Callable[[threading.Event], object],
        stop: threading.Event,
        fatal: tuple[type[BaseException], ...] = (),
        first_pause: float = FIRST_PAUSE,
        longest_pause: float = LONGEST_PAUSE,
    ) -> None:
        super().__init__(name=name)
        self.work, self.stop, self.fatal = work, stop, fatal
        self.first_pause, self.longest_pause = first_pause, longest_pause
        self.failure: BaseException | None = None
        self.state, self.reason = State.STARTING, ""

    def problem(self) -> str | None:
        """None while the part runs; else its name and state ("worker restarting"). The
        reason is in the log: `/healthz` is public, and tells no one the database's address."""
        if self.state is State.RUNNING and self.is_alive():
            return None
        if self.state is State.STARTING and not self.stop.is_set():
            return None  # not failed: only not yet past its first steps
        return f"{self.name} {self.state.value}"

    def run(self) -> None:
        pause, failures = self.first_pause, 0
        while not self.stop.is_set():
            started = time.monotonic()
            self.state = State.RUNNING
            try:
                self.work(self.stop)
                if not self.stop.is_set():  # it should have run until told to stop
                    raise RuntimeError("it stopped by itself")
            except self.fatal as exc:
                self.failure, self.state, self.reason = exc, State.STOPPED, first_line(exc)
                self.stop.set()
                return
            except Exception as exc:
                if time.monotonic() - started >= self.longest_pause:
                    pause, failures = self.first_pause, 0
                failures += 1
                self.state, self.reason = State.RESTARTING, first_line(exc)
                # The traceback once (in the log file), then one line for each failure in a row.
                log.error(
                    "the %s stopped: %s; starting it again in %g s",
                    self.name,
                    self.reason,
                    pause,
                    exc_info=exc if failures == 1 else None,
                )
                self.stop.wait(pause)
                pause = min(pause * 2, self.longest_pause)
        self.state = State.STOPPED
