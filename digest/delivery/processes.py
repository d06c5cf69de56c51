"""Sending with several processes on one machine: `digest send` on PostgreSQL.

One Python process sends at about one core's worth of messages; a second core needs a second
process. The calling process is one worker; `Helpers` starts the others (spawned, so each
begins clean, with no copy of the caller's memory or open connections) and watches them. They
share the edition's queue exactly as separate `digest worker` processes do: by claims in the
database. A transport's connections are the service's total towards its relay, so they are
divided among the processes (`share`); its rate limits need no dividing, since every worker
already takes its slots from one budget in the database (`ratelimit`).

A helper reports its counts to the caller about twice a second, and at its end either its
counts or why it failed. The caller stops them with a flag they share; SIGTERM or SIGINT
(Ctrl-C, which the terminal sends to every process of the command) stops each as well: every
one finishes its messages in flight, gives its unsent claims back to the queue, and stops.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue as queues
import signal
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue
from typing import Any, Protocol

from digest.delivery.sender import Settings, Worker, WorkerError
from digest.delivery.transport import Transport

Transports = Mapping[str | None, Transport]
Report = tuple[str, str, Any]  # (helper, "counts" | "done" | "failed", counts or reason)
STOP_TIMEOUT = 120.0  # seconds a stopping helper may take to finish its messages in flight
WAIT_STEP = 0.5  # seconds between looks at the helpers, once this process's worker is done


class Flag(Protocol):
    value: int


def cores() -> int:
    """The cores this process may run on (fewer than the machine's, under an affinity mask)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def most_processes(transports: Transports) -> int:
    """Each process needs a connection to every transport: no more processes than the
    smallest number of connections."""
    return max(1, min(t.connections for t in transports.values()))


def share(transports: Transports, processes: int) -> list[dict[str | None, Transport]]:
    """Each process's transports: every transport's connections divided among them (4 over 3
    processes: 2, 1, 1), never more in all than configured. `processes` must not be more
    than `most_processes`."""
    shares: list[dict[str | None, Transport]] = [{} for _ in range(processes)]
    for name, transport in transports.items():
        each, extra = divmod(transport.connections, processes)
        for n, transports_of in enumerate(shares):
            transports_of[name] = replace(transport, connections=each + (n < extra))
    return shares


@dataclass(frozen=True)
class HelperSpec:
    """What a helper process needs to make its worker: passed to it by value (pickled)."""

    database_url: str
    settings: Settings
    transports: dict[str | None, Transport]
    name: str
    setup_logging: Callable[[], None]


def _helper_main(spec: HelperSpec, reports: Queue[Report], stopping: Flag) -> None:
    """A helper process: send until nothing is due, reporting counts. It stops, its messages
    in flight finished, when the caller raises `stopping`, or on SIGTERM or SIGINT."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    spec.setup_logging()
    from digest.db import first_line, make_engine

    engine = make_engine(spec.database_url)
    worker = Worker(engine, spec.settings, spec.transports, name=spec.name)

    def report(counts: Counter[str]) -> None:  # the worker's loop, about twice a second
        reports.put((spec.name, "counts", counts))
        if stopping.value:
            stop.set()

    try:
        counts = worker.run(stop, until_idle=True, on_progress=report)
        reports.put((spec.name, "done", counts))
    except Exception as exc:  # the worker's own error says why: the caller reports it
        logging.getLogger(__name__).info("%s failed", spec.name, exc_info=True)  # the log file
        reports.put((spec.name, "failed", first_line(exc)))
        raise SystemExit(1) from None
    finally:
        engine.dispose()
        reports.close()
        reports.join_thread()  # the last report reaches the caller before this process ends


class Helpers:
    """Worker processes sending beside the caller's own worker, and what they report."""

    def __init__(self, specs: Sequence[HelperSpec]) -> None:
        context = multiprocessing.get_context("spawn")
        # (None without helpers: a queue's lock would start multiprocessing's tracker process.)
        self._reports: Queue[Report] | None = context.Queue() if specs else None
        # A flag rather than a signal: a helper still starting (importing) when it is raised
        # stops as soon as it begins, where a signal would kill it half-started. A byte of
        # shared memory, read without a lock: a multiprocessing Event would make its setter
        # wait for any helper that had died waiting on it.
        self._stopping: Flag = context.RawValue("b", 0)
        self._processes: dict[str, BaseProcess] = {
            spec.name: context.Process(
                target=_helper_main,
                args=(spec, self._reports, self._stopping),
                name=spec.name,
                daemon=True,
            )
            for spec in specs
        }
        self._counts: dict[str, Counter[str]] = {name: Counter() for name in self._processes}
        self._ended: set[str] = set()
        self.failure: str | None = None  # the first helper's failure, in its own words

    def start(self) -> None:
        # Ctrl-C reaches every process of the terminal's foreground group, helpers included:
        # ignored while a helper starts (it inherits that), it cannot kill one half-started;
        # each heeds it once its own handler is in place.
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            for process in self._processes.values():
                process.start()
        finally:
            signal.signal(signal.SIGINT, previous)

    def poll(self) -> Counter[str]:
        """Read what the helpers reported; their counts summed."""
        # Which have ended, seen before reading: a helper's last report is in the pipe before
        # it ends, so one that ended without a word said none.
        ended = {name: p.exitcode for name, p in self._processes.items() if p.exitcode is not None}
        while self._reports is not None:
            try:
                name, kind, value = self._reports.get_nowait()
            except queues.Empty:
                break
            if kind == "failed":
                self._ended.add(name)
                self.failure = self.failure or f"the worker process {name} failed: {value}"
            else:
                self._counts[name] = Counter(value)
                if kind == "done":
                    self._ended.add(name)
        for name, code in ended.items():
            if code != 0 and name not in self._ended and self.failure is None:
                # Killed, or out of memory: its exit code is all there is.
                self.failure = f"the worker process {name} ended with exit code {code}"
        return sum(self._counts.values(), Counter())

    def alive(self) -> bool:
        return any(process.is_alive() for process in self._processes.values())

    def stop(self) -> None:
        """Ask every helper to finish its messages in flight and stop."""
        self._stopping.value = 1

    def _heed(self, stop: threading.Event) -> Counter[str]:
        """The helpers' counts; a helper's failure stops everything, and so does `stop`."""
        theirs = self.poll()
        if self.failure is not None:
            stop.set()
        if stop.is_set():
            self.stop()
        return theirs

    def _wait(self, stop: threading.Event, on_progress: Callable[[Counter[str]], None]) -> None:
        """Wait until every helper has ended, giving `on_progress` their counts as they come."""
        waited = 0.0
        while self.alive():
            for process in self._processes.values():
                process.join(WAIT_STEP / len(self._processes))
            on_progress(self._heed(stop))
            if stop.is_set():
                waited += WAIT_STEP
                if waited > STOP_TIMEOUT:
                    raise WorkerError("the worker processes did not stop in time")
        on_progress(self._heed(stop))

    def run_beside(
        self,
        worker: Worker,
        stop: threading.Event,
        on_progress: Callable[[Counter[str]], None],
    ) -> list[Counter[str]]:
        """Start the helpers and run `worker` (this process's own) until nothing is due, then
        wait for the helpers. `on_progress` gets every process's counts, summed, about twice
        a second. Returns each process's counts, this one's first. Setting `stop` stops them
        all, their messages in flight finished. Raises the worker's failure, or `WorkerError`
        with a helper's (which stops the others, and this worker, first)."""
        mine: Counter[str] = Counter()

        def update_mine(recorded: Counter[str]) -> None:
            mine.clear()
            mine.update(recorded)
            on_progress(mine + self._heed(stop))

        self.start()
        try:
            mine = worker.run(stop, until_idle=True, on_progress=update_mine)
        except BaseException:
            stop.set()
            self._wait(stop, lambda _: None)
            raise
        self._wait(stop, lambda theirs: on_progress(mine + theirs))
        if self.failure is not None:
            raise WorkerError(self.failure)
        return [mine, *(self._counts[name] for name in self._processes)]
