"""Does the long-running process grow? The scheduler's poll job, many times in one process.

    python benchmarks/poll_cycles.py [--feeds 1000] [--entries 50] [--cycles 20] [--db URL]

Each cycle every feed has all new entries (the loopback server renames them per cycle), so the
archive grows by feeds x entries items a cycle, and the job `digest run` schedules
(`poll_due_feeds`: poll, then topic suggestions) stores and suggests for all of them. Prints
this process's resident memory after each cycle; the target is the last within 10% of the
first.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ingest import command_config, generate_feeds, run_server
from peak import rss_kib


def serve(folder: str, port_queue: multiprocessing.Queue, cycle: multiprocessing.Value) -> None:
    """HTTP/1.1 with keep-alive; every entry's guid, link and title name the current cycle."""
    bodies = {f"/{p.name}": p.read_bytes() for p in Path(folder).glob("feed-*.xml")}

    def body(path: str) -> bytes | None:
        found = bodies.get(path)
        if found is None:
            return None
        mark = f"c{cycle.value}-".encode()
        return (
            found.replace(b">feed-", b">" + mark + b"feed-")
            .replace(b"/reports/", b"/reports/" + mark)
            # At the front of the title: titles are compared by their first words, and the
            # same title and summary in every cycle would make each a possible duplicate of
            # all the cycles before it.
            .replace(b"<item><title>", b"<item><title>" + mark)
        )

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                found = body(head.split(b" ")[1].decode())
                if found is None:
                    writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                else:
                    writer.write(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n"
                        b"Content-Length: " + str(len(found)).encode() + b"\r\n\r\n" + found
                    )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    run_server(handle, port_queue)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--entries", type=int, default=50)
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--db", default=None, help="an empty database (default: SQLite file)")
    args = parser.parse_args()

    from sqlalchemy import func, select, update

    from digest.models import Feed, Item
    from digest.scheduler.tasks import poll_due_feeds, sessions

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        paths = generate_feeds(folder, args.feeds, args.entries)
        port_queue: multiprocessing.Queue = multiprocessing.Queue()
        cycle = multiprocessing.Value("i", 0)
        server = multiprocessing.Process(
            target=serve, args=(str(folder), port_queue, cycle), daemon=True
        )
        server.start()
        port = port_queue.get(timeout=30)
        config = folder / "bench.yaml"
        command_config(config, [f"http://127.0.0.1:{port}/{p.name}" for p in paths])
        url = args.db or f"sqlite:///{folder / 'cycles.sqlite'}"
        digest = [sys.executable, "-m", "digest", "--config", str(config), "--db", url]
        subprocess.run([*digest, "init"], check=True, capture_output=True)
        factory = sessions(url)
        first = None
        try:
            for n in range(1, args.cycles + 1):
                cycle.value = n
                with factory.begin() as session:  # every feed due now
                    session.execute(update(Feed).values(next_poll_at=None))
                started = time.perf_counter()
                poll_due_feeds(url)
                seconds = time.perf_counter() - started
                rss = rss_kib(os.getpid()) / 1024
                first = first or rss
                with factory() as session:
                    items = session.scalar(select(func.count()).select_from(Item))
                print(
                    f"cycle {n:>2}: {seconds:6.1f} s, {items} items in the archive, "
                    f"RSS {rss:.0f} MB ({rss / first - 1:+.1%} on the first)",
                    flush=True,
                )
        finally:
            server.terminate()
    print(f"load average: {' '.join(f'{n:.2f}' for n in os.getloadavg())}")


if __name__ == "__main__":
    main()
