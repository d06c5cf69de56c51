"""A child process's own peak resident memory, read while it runs.

`wait4`'s ru_maxrss is no measure of a child: one started by vfork (as `subprocess` does) or
fork keeps, through exec, the larger of its own peak and its parent's at that moment, so a
benchmark holding a large edition would be counted again in every process it starts. The
kernel's high-water mark of the process's own memory (VmHWM) starts afresh at exec; it only
rises, so the last reading before the process ends is its peak, all but the final tenth of a
second.

`TreePeak` counts a command's own processes too (those it starts, and theirs): each one's own
peak, summed, which is at least what they ever held at one moment. `TreeMemory` samples what
they hold together, summed at each moment, and the CPU time each has used.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path


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


def rss_kib(pid: int) -> int:
    """VmRSS of `pid` in KiB: what it holds now (0 once it has ended)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pid: int) -> float | None:
    """User and system CPU time `pid` has used so far, or None once it has ended."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu() -> tuple[float, float]:
    """Seconds of CPU the whole machine has been busy (every core, every process: the
    database and the mail sink too) and had taken by the hypervisor (steal), since boot."""
    fields = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    tick = os.sysconf("SC_CLK_TCK")
    return (user + nice + system + irq + softirq) / tick, steal / tick


def descendants(root: int) -> list[int]:
    """Every process below `root`, whichever of its threads started it (parse workers hang
    off a fork server, sending helpers off the command)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, queue = [], [root]
    while queue:
        children = parents.get(queue.pop(), [])
        found += children
        queue += children
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
            for pid in [self.pid, *descendants(self.pid)]:
                if (kib := own_peak_kib(pid)) is not None:
                    self.peaks[pid] = max(self.peaks.get(pid, 0), kib)
            self.stopped.wait(self.every)

    def stop(self) -> int:
        self.stopped.set()
        self.join()
        return sum(self.peaks.values()) // 1024


class TreeMemory(threading.Thread):
    """Samples, every `every` seconds, the resident memory of a process (this one by default)
    and of all its descendants, summed; `peak_kib` is the highest sum seen. `cpu` holds each
    process's CPU seconds as last seen (the last sample before a process ends: all but a
    twentieth of a second)."""

    def __init__(self, root: int | None = None, every: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.root = root or os.getpid()
        self.every = every
        self.peak_kib = 0
        self.cpu: dict[int, float] = {}
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.every):
            tree = [self.root, *descendants(self.root)]
            self.peak_kib = max(self.peak_kib, sum(rss_kib(pid) for pid in tree))
            for pid in tree:
                if (seconds := cpu_seconds(pid)) is not None:
                    self.cpu[pid] = seconds

    def root_cpu(self) -> float:
        return self.cpu.get(self.root, 0.0)

    def all_cpu(self) -> float:
        return sum(self.cpu.values())

    def stop(self) -> None:
        self.stopped.set()
        self.join()
