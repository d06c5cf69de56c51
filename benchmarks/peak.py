"""A child process's own peak resident memory, read while it runs.

`wait4`'s ru_maxrss is no measure of a child: one started by vfork (as `subprocess` does) or
fork keeps, through exec, the larger of its own peak and its parent's at that moment, so a
benchmark holding a large edition would be counted again in every process it starts. The
kernel's high-water mark of the process's own memory (VmHWM) starts afresh at exec; it only
rises, so the last reading before the process ends is its peak, all but the final tenth of a
second.

`TreePeak` counts a command's own processes too (those it starts, and theirs): each one's own
peak, summed, which is at least what they ever held at one moment.
"""

from __future__ import annotations

import threading


def own_peak_kib(pid: int) -> int | None:
    """VmHWM of `pid` in KiB, or None once it has ended (a zombie has no memory left)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return None


def children(pid: int) -> list[int]:
    """The processes `pid` started that still run (or wait to be reaped)."""
    found = []
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as listed:
            found = [int(child) for child in listed.read().split()]
    except (FileNotFoundError, ProcessLookupError):
        pass
    return found


class OwnPeak(threading.Thread):
    """Reads a process's VmHWM every `every` seconds until stopped; `stop` gives the peak in
    MB."""

    def __init__(self, pid: int, every: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.pid, self.every, self.peak_kib = pid, every, 0
        self.stopped = threading.Event()
        self.start()

    def run(self) -> None:
        while not self.stopped.is_set():
            if (kib := own_peak_kib(self.pid)) is not None:
                self.peak_kib = max(self.peak_kib, kib)
            self.stopped.wait(self.every)

    def stop(self) -> int:
        self.stopped.set()
        self.join()
        return self.peak_kib // 1024


class TreePeak(OwnPeak):
    """The peaks of a process and of every process below it, summed in MB by `stop`."""

    def __init__(self, pid: int, every: float = 0.1) -> None:
        self.peaks: dict[int, int] = {}
        super().__init__(pid, every)

    def run(self) -> None:
        while not self.stopped.is_set():
            pids = [self.pid]
            while pids:
                pid = pids.pop()
                if (kib := own_peak_kib(pid)) is not None:
                    self.peaks[pid] = max(self.peaks.get(pid, 0), kib)
                pids.extend(children(pid))
            self.stopped.wait(self.every)

    def stop(self) -> int:
        self.stopped.set()
        self.join()
        return sum(self.peaks.values()) // 1024
