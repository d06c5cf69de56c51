"""How well does Digest find items' DOIs and PMIDs? The labelled set of journal-shaped feeds
(`identify_data.py`, in data/identify/) served over loopback HTTP and polled as a user polls
them, `digest init` then `digest poll --all`, into a scratch database; the stored items are
then read back and compared with the labels.

The issue's bar: a DOI found for at least 98% of the items whose feed carries one, and no false
DOI. Items whose feed never says their DOI (ScienceDirect's PII-only entries, Oxford's issue
articles, some of BMJ's) are counted apart: no parse can find those, only a look-up.

    python benchmarks/identify.py [--db URL]
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data" / "identify"
FOUND_AT_LEAST = 0.98  # of the items whose feed carries a DOI (the bar)


@dataclass
class Stored:
    """One feed's entry as Digest stored it: the feed (its file), the entry's guid and link,
    and the item's DOI, PMID and id."""

    feed: str
    guid: str | None
    link: str | None
    doi: str | None
    pmid: str | None
    item_id: int


@dataclass
class Tally:
    items: int = 0
    doi_in_feed: int = 0
    found: int = 0
    missed: list[str] = field(default_factory=list)
    false: list[str] = field(default_factory=list)
    not_in_feed: int = 0  # items with a DOI the feed never gives
    pmids: int = 0
    pmids_found: int = 0
    false_pmids: list[str] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)  # labelled entries not stored

    @property
    def found_share(self) -> float:
        return self.found / self.doi_in_feed if self.doi_in_feed else 1.0


def labels() -> dict:
    return json.loads((DATA / "labels.json").read_text(encoding="utf-8"))


def feed_files() -> list[str]:
    return list(labels()["publishers"])


def _key(value: str | None) -> str | None:
    from digest.ingest.urls import canonicalize_url

    if not value:
        return None
    return canonicalize_url(value) if value.startswith(("http://", "https://")) else value


def score(stored: Iterable[Stored]) -> dict[str, Tally]:
    """Per publisher (and "all"), the stored items' DOIs and PMIDs against the labels."""
    document = labels()
    by_entry: dict[tuple[str, str], Stored] = {}
    for row in stored:
        for value in (row.guid, row.link):
            if (key := _key(value)) is not None:
                by_entry.setdefault((row.feed, key), row)
    tallies = {"all": Tally()}
    for label in document["items"]:
        publisher = document["publishers"][label["feed"]]
        row = by_entry.get((label["feed"], _key(label["key"]) or ""))
        for tally in (tallies.setdefault(publisher, Tally()), tallies["all"]):
            _count(tally, label, row)
    return tallies


def _count(tally: Tally, label: dict, row: Stored | None) -> None:
    tally.items += 1
    if row is None:
        tally.unmatched.append(label["title"])
        return
    if label["doi"] and label["doi_in_feed"]:
        tally.doi_in_feed += 1
        if row.doi == label["doi"]:
            tally.found += 1
        elif row.doi is None:
            tally.missed.append(f"{label['title']} ({label['doi']})")
    elif label["doi"]:
        tally.not_in_feed += 1
    if row.doi is not None and row.doi != label["doi"]:
        tally.false.append(f"{label['title']}: {row.doi} (is {label['doi']})")
    if label["pmid"]:
        tally.pmids += 1
        tally.pmids_found += row.pmid == label["pmid"]
    if row.pmid is not None and row.pmid != label["pmid"]:
        tally.false_pmids.append(f"{label['title']}: {row.pmid} (is {label['pmid']})")


def read_stored(session) -> list[Stored]:  # type: ignore[no-untyped-def]
    """Every stored entry of the labelled feeds, with its item's identifiers."""
    from sqlalchemy import select

    from digest.models import Feed, Item, ItemSource

    rows = session.execute(
        select(Feed.name, ItemSource.guid, ItemSource.link, Item.doi, Item.pmid, Item.id)
        .join(ItemSource, ItemSource.feed_id == Feed.id)
        .join(Item, Item.id == ItemSource.item_id)
    )
    return [Stored(*row) for row in rows]


def shared_items_merged(stored: list[Stored]) -> tuple[int, int]:
    """Of the PubMed entries that are the Wiley feed's articles (the same DOI in two feeds),
    how many were stored as the Wiley feed's item: (merged, shared)."""
    from identify_data import SHARED_WITH_WILEY

    document = labels()
    wiley = {s.doi: s.item_id for s in stored if s.feed == "wiley_cfs.rdf" and s.doi}
    shared = [
        label
        for label in document["items"]
        if label["feed"] == "pubmed_search.xml" and label["doi"] in wiley
    ]
    merged = sum(
        1
        for label in shared
        for s in stored
        if s.feed == "pubmed_search.xml"
        and s.guid == label["key"]
        and s.item_id == wiley[label["doi"]]
    )
    assert len(shared) == SHARED_WITH_WILEY
    return merged, len(shared)


class QuietFiles(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def serve(folder: Path) -> tuple[str, http.server.ThreadingHTTPServer]:
    handler = functools.partial(QuietFiles, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}", server


def write_config(path: Path, base: str) -> None:
    """The production newsletters (feeds.yaml) and one feed a labelled file, named by it."""
    lines = [f"extends: {ROOT / 'feeds.yaml'}", "feeds:"]
    for name in feed_files():
        lines += [
            f"  - name: {name}",
            f"    url: {base}/{name}",
            "    newsletter: caspar",
            "    section: News",
            "    allow_private_network: true",
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def run(digest: list[str], *arguments: str) -> float:
    started = time.perf_counter()
    done = subprocess.run([*digest, *arguments], capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"digest {' '.join(arguments)} failed:\n{done.stderr[-2000:]}")
    return time.perf_counter() - started


def report(tallies: dict[str, Tally], merged: tuple[int, int], seconds: float) -> bool:
    """Print the table; whether the bar is met."""
    print(f"`digest poll --all` of {len(feed_files())} feeds: {seconds:.2f} s\n")
    header = f"{'publisher':<22}{'items':>6}{'DOI in feed':>12}{'found':>7}{'found %':>9}"
    print(header + f"{'false':>7}{'not in feed':>12}{'PMIDs':>8}{'false PMIDs':>12}")
    for name, t in tallies.items():
        pmids = f"{t.pmids_found}/{t.pmids}" if t.pmids else "–"
        print(
            f"{name:<22}{t.items:>6}{t.doi_in_feed:>12}{t.found:>7}{t.found_share:>9.1%}"
            f"{len(t.false):>7}{t.not_in_feed:>12}{pmids:>8}{len(t.false_pmids):>12}"
        )
    total = tallies["all"]
    for what, values in (
        ("missed", total.missed),
        ("false DOIs", total.false),
        ("false PMIDs", total.false_pmids),
        ("not stored", total.unmatched),
    ):
        for value in values:
            print(f"  {what}: {value}")
    print(f"\none item for the same DOI in PubMed's and Wiley's feeds: {merged[0]}/{merged[1]}")
    met = (
        total.found_share >= FOUND_AT_LEAST
        and not total.false
        and not total.false_pmids
        and not total.unmatched
        and merged[0] == merged[1]
    )
    print(f"bar (≥ {FOUND_AT_LEAST:.0%} found, no false DOI): {'met' if met else 'NOT met'}")
    return met


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", help="a database URL (default: a scratch SQLite file)")
    arguments = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    with tempfile.TemporaryDirectory() as folder:
        database_url = arguments.db or f"sqlite:///{folder}/identify.db"
        base, server = serve(DATA)
        config = Path(folder) / "identify.yaml"
        write_config(config, base)
        digest = [sys.executable, "-m", "digest", "--config", str(config), "--db", database_url]
        run(digest, "init")
        seconds = run(digest, "poll", "--all")
        server.shutdown()

        from digest.db import make_engine, session_factory

        engine = make_engine(database_url)
        with session_factory(engine)() as session:
            stored = read_stored(session)
        engine.dispose()
    met = report(score(stored), shared_items_merged(stored), seconds)
    sys.exit(0 if met else 1)


if __name__ == "__main__":
    main()
