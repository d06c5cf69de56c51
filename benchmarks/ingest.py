"""Ingest benchmark: poll N generated feeds over loopback HTTP and compare with bare feedparser.

    python benchmarks/ingest.py [--feeds 1000] [--entries 50] [--db URL] [--command-db URL]

First as a user runs it: `digest poll --all` as a command of its own (process start to exit,
topic suggestions included, with the topics of feeds.yaml), cold and then unchanged (304), with
the peak memory of the command and every process it starts, summed. Then inside one process,
`poll_feeds` alone: a cold poll, an unchanged re-poll (every feed answers 304), and a re-poll
where the server ignores conditional GET (the same body again, 200). The reference, measured in
the same run, is `feedparser.parse` over the same bytes, one feed after another. Each part runs
in a process of its own, so that peak memory is the poller's alone.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

from peak import TreeMemory

WORDS = [
    "safeguarding",
    "children",
    "online",
    "grooming",
    "neglect",
    "review",
    "practice",
    "policy",
    "research",
    "domestic",
    "abuse",
    "exploitation",
    "school",
    "social",
    "care",
    "police",
    "health",
    "early",
    "help",
    "parenting",
    "evidence",
    "framework",
    "guidance",
    "statutory",
    "local",
    "partnership",
    "assessment",
    "risk",
]


def generate_feeds(
    folder: Path, feeds: int, entries: int, seed: int = 7, run: str = ""
) -> list[Path]:
    """`feeds` RSS files of `entries` items each, about 800 bytes an item, all titles unique;
    a `run` name makes every item new to a database that holds another run's."""
    rng = random.Random(seed)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    paths = []
    for f in range(feeds):
        items = []
        for e in range(entries):
            title = f"{' '.join(rng.choices(WORDS, k=6)).capitalize()} (report {run}{f}-{e})"
            summary = "<p>" + " ".join(rng.choices(WORDS, k=70)) + ".</p>"
            published = start + timedelta(minutes=rng.randrange(30 * 24 * 60))
            items.append(
                f"<item><title>{escape(title)}</title>"
                f"<link>https://publisher{f % 97}.example.org/reports/{run}{f}/{e}"
                "?utm_source=rss</link>"
                f'<guid isPermaLink="false">{run}feed-{f}-entry-{e}</guid>'
                f"<pubDate>{format_datetime(published)}</pubDate>"
                f"<description>{escape(summary)}</description></item>"
            )
        body = (
            '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
            f"<title>Publisher {f}</title><link>https://publisher{f}.example.org/</link>"
            "<description>Generated</description>" + "".join(items) + "</channel></rss>"
        )
        path = folder / f"feed-{f}.xml"
        path.write_text(body, encoding="utf-8")
        paths.append(path)
    return paths


# --- the loopback feed server -------------------------------------------------------------


def serve(folder: str, port_queue: multiprocessing.Queue, mode: multiprocessing.Value) -> None:
    """HTTP/1.1 with keep-alive; `mode` 0 honours If-None-Match, 1 ignores it."""
    bodies = {f"/{p.name}": p.read_bytes() for p in Path(folder).glob("feed-*.xml")}
    etags = {path: f'"{hash(body) & 0xFFFFFFFF:x}"'.encode() for path, body in bodies.items()}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.split(b"\r\n")
                path = lines[0].split(b" ")[1].decode()
                headers = dict(line.split(b": ", 1) for line in lines[1:] if b": " in line)
                body, etag = bodies.get(path), etags.get(path)
                if body is None:
                    writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                elif mode.value == 0 and headers.get(b"If-None-Match") == etag:
                    writer.write(b"HTTP/1.1 304 Not Modified\r\nETag: " + etag + b"\r\n\r\n")
                else:
                    writer.write(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n"
                        b"ETag: "
                        + etag
                        + b"\r\nContent-Length: "
                        + str(len(body)).encode()
                        + b"\r\n\r\n"
                        + body
                    )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    run_server(handle, port_queue)


def run_server(handle: Callable[..., Awaitable[None]], port_queue: multiprocessing.Queue) -> None:
    """Serve `handle` on a free loopback port, told to the parent through `port_queue`, until
    the process is stopped."""

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
        port_queue.put(server.sockets[0].getsockname()[1])
        async with server:
            await server.serve_forever()

    asyncio.run(main())


# --- the measured parts, each in its own process ----------------------------------------


def reference(folder: str, results: multiprocessing.Queue) -> None:
    import feedparser

    bodies = [p.read_bytes() for p in sorted(Path(folder).glob("feed-*.xml"))]
    started = time.perf_counter()
    entries = sum(len(feedparser.parse(body).entries) for body in bodies)
    results.put({"seconds": time.perf_counter() - started, "entries": entries})


def polls(
    database_url: str, urls: list[str], mode: multiprocessing.Value, results: multiprocessing.Queue
) -> None:
    from sqlalchemy import func, select

    from digest.config.schema import FeedConfig
    from digest.config.sync import apply_feed
    from digest.db import make_engine, session_factory, transaction, upgrade_schema
    from digest.ingest.poll import poll_feeds
    from digest.models import Feed, Item, Newsletter, Section

    engine = make_engine(database_url)
    upgrade_schema(engine)
    factory = session_factory(engine)
    with transaction(factory) as session:
        newsletter = Newsletter(
            slug="bench",
            title="Bench",
            from_address="b@bench.test",
            sections=[Section(name="News", position=0)],
        )
        session.add(newsletter)
        session.flush()
        for n, url in enumerate(urls):
            spec = FeedConfig(
                name=f"Feed {n}",
                url=url,
                newsletter="bench",
                section="News",
                allow_private_network=True,
            )
            feed = Feed(name=spec.name, url=url)
            session.add(feed)
            apply_feed(feed, spec, newsletter, [])

    figures = {}
    tree = TreeMemory()
    tree.start()
    for label, server_mode in (("cold", 0), ("unchanged (304)", 0), ("same body (200)", 1)):
        mode.value = server_mode
        started = time.perf_counter()
        report = poll_feeds(factory, include_not_due=True)
        figures[label] = {
            "seconds": time.perf_counter() - started,
            "new": report.total("new"),
            "failed": len(report.failed),
        }
        if report.failed:
            figures[label]["first_error"] = report.failed[0].problem.message
    tree.stopped.set()
    with factory() as session:
        stored = session.scalar(select(func.count()).select_from(Item))
    results.put(
        {
            "polls": figures,
            "stored": stored,
            "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "tree_rss_mb": tree.peak_kib / 1024,
        }
    )


ROOT = Path(__file__).resolve().parent.parent


def command_config(path: Path, urls: list[str]) -> None:
    """The production newsletters and topics (feeds.yaml) and the generated feeds."""
    lines = [f"extends: {ROOT / 'feeds.yaml'}", "feeds:"]
    for n, url in enumerate(urls):
        lines += [
            f"  - name: Feed {n}",
            f"    url: {url}",
            "    newsletter: caspar",
            "    section: News",
            "    allow_private_network: true",
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def run_command(digest: list[str], *arguments: str) -> dict:
    """One `digest` command from process start to exit, and the peak memory of its tree."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [*digest, *arguments], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    tree = TreeMemory(process.pid)
    tree.start()
    out, err = process.communicate()
    seconds = time.perf_counter() - started
    tree.stopped.set()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(arguments)} failed ({process.returncode}):\n{err[-2000:]}")
    last = [line for line in out.splitlines() if line.strip()][-2:]
    return {
        "seconds": seconds,
        "tree_rss_mb": tree.peak_kib / 1024,
        "cpu": tree.all_cpu(),
        "own_cpu": tree.root_cpu(),
        "said": " / ".join(last),
    }


def commands(database_url: str, config: Path) -> dict:
    digest = [sys.executable, "-m", "digest", "--config", str(config), "--db", database_url]
    run_command(digest, "init")
    return {
        "cold": run_command(digest, "poll", "--all"),
        "unchanged (304)": run_command(digest, "poll", "--all"),
    }


def run_in_process(target, *args):
    results: multiprocessing.Queue = multiprocessing.Queue()
    process = multiprocessing.Process(target=target, args=(*args, results))
    process.start()
    value = results.get()
    process.join()
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--entries", type=int, default=50)
    parser.add_argument("--db", default=None, help="database URL (default: a new SQLite file)")
    parser.add_argument(
        "--command-db",
        default=None,
        help="an empty database for the command's runs (default: a new SQLite file)",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        paths = generate_feeds(folder, args.feeds, args.entries)
        size = sum(p.stat().st_size for p in paths)
        print(
            f"{args.feeds} feeds x {args.entries} entries, {size / args.feeds / 1024:.1f} KB "
            "a feed on average"
        )

        before = run_in_process(reference, str(folder))
        print(
            f"reference: feedparser.parse one after another: {before['seconds']:.2f} s "
            f"({args.feeds / before['seconds']:.0f} feeds/s, {before['entries']} entries)"
        )

        port_queue: multiprocessing.Queue = multiprocessing.Queue()
        mode = multiprocessing.Value("i", 0)
        server = multiprocessing.Process(
            target=serve, args=(str(folder), port_queue, mode), daemon=True
        )
        server.start()
        port = port_queue.get(timeout=30)
        urls = [f"http://127.0.0.1:{port}/{p.name}" for p in paths]
        database_url = args.db or f"sqlite:///{folder / 'bench.sqlite'}"
        command_url = args.command_db or f"sqlite:///{folder / 'command.sqlite'}"
        config = folder / "bench.yaml"
        command_config(config, urls)
        try:
            mode.value = 0
            measured_commands = commands(command_url, config)
            # Again after the commands: on a shared machine the load changes within a run, and
            # the ratios use the mean of the two.
            after = run_in_process(reference, str(folder))
            ref = {"seconds": (before["seconds"] + after["seconds"]) / 2}
            print(
                f"reference again after the commands: {after['seconds']:.2f} s; "
                f"ratios below are to the mean, {ref['seconds']:.2f} s"
            )
            measured = run_in_process(polls, database_url, urls, mode)
        finally:
            server.terminate()

    print("as a user runs it: `digest poll --all`, process start to exit, suggestions included")
    print(
        f"{'command':<18}{'seconds':>9}{'x reference':>13}{'peak MB (all)':>15}"
        f"{'CPU s (all)':>13}{'CPU s (own)':>13}  it said"
    )
    for label, figure in measured_commands.items():
        print(
            f"{label:<18}{figure['seconds']:>9.2f}{figure['seconds'] / ref['seconds']:>13.3f}"
            f"{figure['tree_rss_mb']:>15.0f}{figure['cpu']:>13.1f}{figure['own_cpu']:>13.1f}"
            f"  {figure['said']}"
        )
    cores = os.cpu_count() or 1
    cold_cpu = measured_commands["cold"]
    print(
        f"the cold command's CPU bounds it from below: all its processes' "
        f"{cold_cpu['cpu']:.1f} s over {cores} cores is {cold_cpu['cpu'] / cores:.1f} s "
        f"({cold_cpu['cpu'] / cores / ref['seconds']:.2f}x reference), and its own process "
        f"(fetching, storing, suggesting) used {cold_cpu['own_cpu']:.1f} s "
        f"({cold_cpu['own_cpu'] / ref['seconds']:.2f}x)"
    )
    print("inside one process: poll_feeds alone")

    items = args.feeds * args.entries
    print(
        f"{'poll':<18}{'seconds':>9}{'feeds/s':>10}{'items/s':>10}{'x reference':>13}  new / failed"
    )
    for label, figure in measured["polls"].items():
        seconds = figure["seconds"]
        print(
            f"{label:<18}{seconds:>9.2f}{args.feeds / seconds:>10.0f}{items / seconds:>10.0f}"
            f"{seconds / ref['seconds']:>13.3f}  {figure['new']} / {figure['failed']}"
            + (f"  ({figure['first_error']})" if "first_error" in figure else "")
        )
    print(f"items stored: {measured['stored']} of {items}")
    print(
        f"peak RSS: poller {measured['rss_mb']:.0f} MB; poller and its parse workers together "
        f"{measured['tree_rss_mb']:.0f} MB (sampled every 50 ms)"
    )
    cold = measured_commands["cold"]["seconds"] / ref["seconds"]
    unchanged = measured_commands["unchanged (304)"]["seconds"] / ref["seconds"]
    peak = max(figure["tree_rss_mb"] for figure in measured_commands.values())
    print(
        f"targets (the command): cold <= 1.0x reference: {'met' if cold <= 1.0 else 'MISSED'} "
        f"({cold:.2f}x); unchanged <= 0.15x: {'met' if unchanged <= 0.15 else 'MISSED'} "
        f"({unchanged:.3f}x); peak memory of all processes <= 300 MB: "
        f"{'met' if peak <= 300 else 'MISSED'} ({peak:.0f} MB)"
    )
    print(f"load average: {' '.join(f'{n:.2f}' for n in os.getloadavg())}")
    sys.exit(0)


if __name__ == "__main__":
    main()
