"""Does a poll cost more as the archive grows? 50 new items polled into an empty database and
into a library's archive, as a user runs it.

    python benchmarks/poll_archive.py [--items 1000000] [--db URL] [--reuse]

Each poll is `digest poll --feed NAME`, a command of its own from process start to exit, topic
suggestions included, with the peak memory of every process it starts. The archive (`web_data`,
bulk-loaded) has five years of items, most of them tagged by hand, so the classifier has
something to learn from: the first poll after tagging trains it, and the polls after read the
model that one stored, as long as nothing new was tagged. The empty database has the same
configuration and nothing tagged. The issue's bound: a poll into 1,000,000 items costs about
what it costs into an empty database.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest import generate_feeds  # noqa: E402
from peak import TreeMemory  # noqa: E402
from web_data import already_filled, fill  # noqa: E402

FEED = "Archive probe"
POLLS = 3  # the first after tagging, then two that find the model stored


class QuietFiles(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def serve(folder: Path) -> str:
    """A loopback server for the generated feeds; returns its address."""
    handler = functools.partial(QuietFiles, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


def point_feed(database_url: str, url: str) -> None:
    """The probe feed, made on first use, now reading `url` (a feed of 50 items not seen)."""
    from sqlalchemy import select

    from digest.db import make_engine, session_factory, transaction
    from digest.models import Feed, Section

    engine = make_engine(database_url)
    with transaction(session_factory(engine)) as session:
        feed = session.scalar(select(Feed).where(Feed.name == FEED))
        if feed is None:
            section = session.scalars(select(Section).order_by(Section.id)).first()
            assert section is not None
            feed = Feed(
                name=FEED,
                url=url,
                newsletter_id=section.newsletter_id,
                section_id=section.id,
                allow_private_network=True,
            )
            session.add(feed)
        feed.url, feed.etag, feed.last_modified, feed.body_hash = url, None, None, None
    engine.dispose()


def poll(database_url: str) -> dict:
    """`digest poll --feed`, process start to exit, and the peak memory of its processes."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "digest", "--db", database_url, "poll", "--feed", FEED],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    tree = TreeMemory(process.pid)
    tree.start()
    out, err = process.communicate()
    seconds = time.perf_counter() - started
    tree.stopped.set()
    if process.returncode != 0:
        raise SystemExit(f"the poll failed ({process.returncode}):\n{err[-2000:]}")
    said = [line.strip() for line in out.splitlines() if line.strip()][-1]
    return {"seconds": seconds, "mb": tree.peak_kib / 1024, "said": said}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--db", help="database URL for the archive (default: a new SQLite file)")
    parser.add_argument("--reuse", action="store_true", help="keep an archive already filled")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        feeds = generate_feeds(folder, 2 * POLLS, 50)
        address = serve(folder)
        empty_url = f"sqlite:///{folder / 'empty.sqlite'}"
        archive_url = args.db or f"sqlite:///{folder / 'archive.sqlite'}"
        print(fill(empty_url, 0))
        held = already_filled(archive_url)
        if args.reuse and held:
            print(f"reusing the archive: {held:,} items")
        else:
            started = time.perf_counter()
            print(fill(archive_url, args.items), f"in {time.perf_counter() - started:.0f} s")

        rows = []
        for name, url, files in (
            ("empty", empty_url, feeds[:POLLS]),
            ("archive", archive_url, feeds[POLLS:]),
        ):
            for n, path in enumerate(files):
                point_feed(url, f"{address}/{path.name}")
                rows.append((name, n, poll(url)))

    print(f"{'database':<10}{'poll':<44}{'seconds':>9}{'peak MB (all)':>15}  it said")
    for name, n, figure in rows:
        which = "first" if n == 0 else "again, 50 other items"
        if name == "archive":
            which += " (trains the model)" if n == 0 else " (model read back)"
        print(
            f"{name:<10}{which:<44}{figure['seconds']:>9.2f}{figure['mb']:>15.0f}  {figure['said']}"
        )
    empty = min(f["seconds"] for name, _, f in rows if name == "empty")
    stored = min(f["seconds"] for name, n, f in rows if name == "archive" and n > 0)
    print(
        f"a poll of 50 items into {max(held, args.items):,} items takes {stored / empty:.2f}x "
        "what it takes into an empty database, once the model is stored"
    )


if __name__ == "__main__":
    main()
