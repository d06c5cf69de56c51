"""Does a poll cost more as the archive grows? 50 new items polled into an empty database and
into a library's archive, as a user runs it.

Each poll is `digest poll --feed NAME`, a command of its own from process start to exit, topic
suggestions included, with the peak memory of every process it starts. The archive (`web_data`,
bulk-loaded) has five years of items, most of them tagged by hand, so the classifier has
something to learn from: the first poll after tagging trains it, and the polls after read the
model that one stored, as long as nothing new was tagged. The empty database has the same
configuration and nothing tagged. A small tagged archive (`--small-items`, 20,000 by default)
separates what the archive's size costs from what having a model to apply costs. The issue's
bound: a poll into 1,000,000 items costs about what it costs into an empty database.

    python benchmarks/poll_archive.py [--items 1000000] [--small-items 20000] [--db URL] [--reuse]
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
POLLS = 3  # the first after tagging (which trains), then two that find the model stored


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


def stored_model(database_url: str) -> str | None:
    """The fingerprint of the topic model the database holds, if any."""
    from sqlalchemy import select

    from digest.db import make_engine
    from digest.models import SuggestionModel

    engine = make_engine(database_url)
    with engine.connect() as connection:
        named = connection.scalar(select(SuggestionModel.fingerprint))
    engine.dispose()
    return named


def poll(database_url: str) -> dict:
    """`digest poll --feed`, process start to exit, the peak memory of its processes, and
    whether it trained the topic model (or read back the one stored)."""
    model_before = stored_model(database_url)
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
    trained = stored_model(database_url) != model_before
    return {"seconds": seconds, "mb": tree.peak_kib / 1024, "said": said, "trained": trained}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--small-items", type=int, default=20_000, help="0 leaves it out")
    parser.add_argument("--db", help="database URL for the archive (default: a new SQLite file)")
    parser.add_argument("--reuse", action="store_true", help="keep an archive already filled")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        databases = {"empty": (f"sqlite:///{folder / 'empty.sqlite'}", 0)}
        if args.small_items:
            databases["small"] = (f"sqlite:///{folder / 'small.sqlite'}", args.small_items)
        databases["archive"] = (args.db or f"sqlite:///{folder / 'archive.sqlite'}", args.items)
        # Items no earlier run stored: an archive reused still gets 50 new items a poll.
        feeds = generate_feeds(folder, len(databases) * POLLS, 50, run=f"{time.time_ns()}-")
        address = serve(folder)
        held = {}
        for name, (url, items) in databases.items():
            held[name] = already_filled(url)
            if args.reuse and held[name]:
                print(f"reusing the {name} database: {held[name]:,} items")
                continue
            started = time.perf_counter()
            print(fill(url, items), f"in {time.perf_counter() - started:.0f} s")
            held[name] = items

        rows = []
        for number, (name, (url, _)) in enumerate(databases.items()):
            for n, path in enumerate(feeds[number * POLLS : (number + 1) * POLLS]):
                point_feed(url, f"{address}/{path.name}")
                rows.append((name, n, poll(url)))

    print(f"{'database':<20}{'poll':<44}{'seconds':>9}{'peak MB (all)':>15}  it said")
    for name, n, figure in rows:
        which = "first" if n == 0 else "again, 50 other items"
        if name != "empty":
            which += " (trains the model)" if figure["trained"] else " (model read back)"
        size = f"{name} ({held[name]:,})"
        figures = f"{figure['seconds']:>9.2f}{figure['mb']:>15.0f}"
        print(f"{size:<20}{which:<44}{figures}  {figure['said']}")
    empty = _best(rows, "empty")
    for name in databases:
        if name != "empty":
            seconds, mb = _best(rows, name)
            print(
                f"a poll of 50 items into {held[name]:,} items takes {seconds / empty[0]:.2f}x the"
                f" time and {mb / empty[1]:.2f}x the memory of one into an empty database, once"
                " the model is stored"
            )


def _best(rows: list[tuple[str, int, dict]], name: str) -> tuple[float, float]:
    """The fastest poll's seconds and the smallest peak, of the polls that did not train."""
    chosen = [f for which, _, f in rows if which == name and not f["trained"]]
    return min(f["seconds"] for f in chosen), min(f["mb"] for f in chosen)


if __name__ == "__main__":
    main()
