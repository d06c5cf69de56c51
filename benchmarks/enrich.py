"""Enrichment benchmark: look up 1,000 DOIs at a local Crossref-shaped server, as a user runs it.

    python benchmarks/enrich.py [--dois 1000] [--capacity 100] [--concurrency 8] [--db URL]

A server in a process of its own answers `/works/{doi}` with Crossref-shaped JSON of a real
work's size (a dozen authors with affiliations and ORCIDs, forty references, licences and
links: about 11 KB), allows `--capacity` requests a second and `--concurrency` at once (more
gets a 429, as Crossref's does), and says so in Crossref's X-Rate-Limit headers. A scratch
database holds that many items, each with its own DOI, as a poll stores them. Then
`digest items enrich` runs as a command of its own, from process start to exit, with the
rate limits set to the server's capacity, and the peak memory of all its processes summed.
The reference, the floor no client can beat at that rate, is the DOIs divided by the capacity.
A second run shows a database with nothing due.

Target (issue 15): 1,000 DOIs in under 30 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

from ingest import run_command, run_server

CONTACT = "benchmark@example.org"


def work(doi: str, n: int) -> bytes:
    """A Crossref /works answer for `doi`, shaped and sized as a real one."""
    authors = [
        {
            "given": given,
            "family": family,
            "sequence": "first" if i == 0 else "additional",
            "ORCID": f"https://orcid.org/0000-0002-{1000 + i:04d}-{n % 10000:04d}",
            "affiliation": [{"name": f"Department {i}, Universität Zürich, Switzerland"}],
        }
        for i, (given, family) in enumerate(
            [("Anna-Lena", "Jütte"), ("Seán", "Ó Briain"), ("小明", "王"), ("José", "Núñez")] * 3
        )
    ]
    references = [
        {
            "key": f"ref{r}",
            "doi-asserted-by": "crossref",
            "first-page": str(100 + r),
            "DOI": f"10.1000/ref.{n}.{r}",
            "volume": str(r % 40),
            "author": "Smith",
            "year": str(1990 + r % 30),
            "journal-title": "Journal of Examples",
        }
        for r in range(40)
    ]
    message = {
        "indexed": {"date-parts": [[2026, 11, 2]], "date-time": "2026-11-02T10:41:07Z"},
        "reference-count": len(references),
        "publisher": "Springer Science and Business Media LLC",
        "issue": str(n % 12 + 1),
        "license": [
            {
                "start": {"date-parts": [[2016, 3, 15]]},
                "content-version": "vor",
                "delay-in-days": 0,
                "URL": "https://creativecommons.org/licenses/by/4.0",
            }
        ],
        "short-container-title": ["Nat Commun"],
        "published-print": {"date-parts": [[2016, 3]]},
        "abstract": "<jats:title>Abstract</jats:title><jats:p>"
        + "Carbon fixation in <jats:italic>Escherichia coli</jats:italic> turns CO<jats:sub>2"
        "</jats:sub> into sugar. " * 8 + "</jats:p>",
        "DOI": doi,
        "type": "journal-article",
        "page": f"{n}-{n + 12}",
        "title": [f"Fixing CO<sub>2</sub> in <i>Escherichia coli</i>, part {n}"],
        "volume": "7",
        "author": authors,
        "member": "297",
        "container-title": ["Nature Communications"],
        "link": [
            {
                "URL": f"https://www.nature.com/articles/{n}.pdf",
                "content-type": "application/pdf",
                "content-version": "vor",
                "intended-application": "text-mining",
            }
        ],
        "reference": references,
        "issued": {"date-parts": [[2016, 3, 15]]},
        "URL": f"https://doi.org/{doi}",
        "ISSN": ["2041-1723"],
    }
    body = {"status": "ok", "message-type": "work", "message-version": "1.0.0", "message": message}
    return json.dumps(body, ensure_ascii=False).encode()


def doi_of(n: int) -> str:
    return f"10.5555/bench.{n:06d}"


def serve(count: int, capacity: int, concurrency: int, port_queue, counters) -> None:
    """Crossref's /works/{doi} at `capacity` requests a second and `concurrency` at once;
    beyond either, a 429 with Retry-After, as Crossref answers. `counters`: works served,
    refused for the rate, refused for concurrency."""
    bodies = {f"/works/{doi_of(n)}": work(doi_of(n), n) for n in range(count)}
    limits = (
        f"X-Rate-Limit-Limit: {capacity}\r\nX-Rate-Limit-Interval: 1s\r\n"
        f"X-Concurrency-Limit: {concurrency}\r\n"
    ).encode()
    window = {"start": time.monotonic(), "served": 0, "open": 0}
    too_many = (
        b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\n"
        + limits
        + b"Content-Length: 0\r\n\r\n"
    )

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ", 2)[1].decode().split("?", 1)[0]
                now = time.monotonic()
                if now - window["start"] >= 1:
                    window["start"], window["served"] = now, 0
                window["served"] += 1
                window["open"] += 1
                if window["served"] > capacity:
                    counters[1] += 1
                    writer.write(too_many)
                elif window["open"] > concurrency:
                    counters[2] += 1
                    writer.write(too_many)
                elif path in bodies:
                    counters[0] += 1
                    body = bodies[path]
                    writer.write(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                        + limits
                        + b"Content-Length: "
                        + str(len(body)).encode()
                        + b"\r\n\r\n"
                        + body
                    )
                else:
                    writer.write(
                        b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n"
                        b"Content-Length: 19\r\n\r\nResource not found."
                    )
                window["open"] -= 1  # answered: what follows is the network's
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    run_server(handle, port_queue)


def scratch_database(database_url: str, count: int) -> None:
    """A migrated database holding `count` items, each with its own DOI, stored as a poll
    stores them."""
    from digest.db import make_engine, session_factory, transaction, upgrade_schema
    from digest.ingest.parse import ParsedEntry
    from digest.ingest.store import feed_entries, store_entries
    from digest.ingest.urls import canonicalize_url
    from digest.models import Feed, Newsletter, Section
    from digest.timeutil import utcnow

    engine = make_engine(database_url)
    upgrade_schema(engine)
    factory = session_factory(engine)
    with transaction(factory) as session:
        newsletter = Newsletter(
            slug="bench",
            title="Bench",
            from_address="b@bench.test",
            sections=[Section(name="Research", position=0)],
        )
        feed = Feed(name="Journal", url="https://journal.example.org/rss", newsletter=newsletter)
        session.add_all([newsletter, feed])
        session.flush()
        feed.section = newsletter.sections[0]
        entries = []
        for n in range(count):
            link = f"https://journal.example.org/articles/{n}"
            entries.append(
                ParsedEntry.keyed(
                    title=f"Fixing CO₂ in E. coli, part {n}",
                    guid=None,
                    link=link,
                    canonical_url=canonicalize_url(link),
                    authors=[],
                    published=utcnow(),
                    summary_html="<p>An article.</p>",
                    summary_text="An article.",
                    doi=doi_of(n),
                )
            )
        store_entries(session, [feed_entries(feed, entries)], utcnow())
    engine.dispose()


def counts(database_url: str) -> dict[str, int]:
    from sqlalchemy import func, select

    from digest.db import make_engine, session_factory
    from digest.models.research import Enrichment

    engine = make_engine(database_url)
    with session_factory(engine)() as session:
        rows = session.execute(select(Enrichment.state, func.count()).group_by(Enrichment.state))
        found = {str(state): number for state, number in rows}
    engine.dispose()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dois", type=int, default=1000)
    parser.add_argument("--capacity", type=int, default=100, help="the server's requests/s")
    parser.add_argument("--concurrency", type=int, default=8, help="the server's at once")
    parser.add_argument("--db", default=None, help="an empty database (default: new SQLite)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        database_url = args.db or f"sqlite:///{Path(tmp) / 'enrich.sqlite'}"
        started = time.perf_counter()
        scratch_database(database_url, args.dois)
        print(f"{args.dois:,} items with a DOI stored in {time.perf_counter() - started:.1f} s")

        port_queue: multiprocessing.Queue = multiprocessing.Queue()
        counters = multiprocessing.Array("i", 3)
        server = multiprocessing.Process(
            target=serve,
            args=(args.dois, args.capacity, args.concurrency, port_queue, counters),
            daemon=True,
        )
        server.start()
        port = port_queue.get(timeout=60)
        size = len(work(doi_of(0), 0))
        print(
            f"server: Crossref-shaped works of {size / 1024:.1f} KB, {args.capacity} requests/s "
            f"and {args.concurrency} at once"
        )
        os.environ.update(
            DIGEST_CROSSREF_URL=f"http://127.0.0.1:{port}",
            DIGEST_RESEARCH_PRIVATE_NETWORK="1",
            DIGEST_RESEARCH_CONTACT=CONTACT,
            DIGEST_CROSSREF_RATE=str(args.capacity),
            DIGEST_CROSSREF_CONCURRENCY=str(args.concurrency),
        )
        digest = [sys.executable, "-m", "digest", "--db", database_url]
        limit = str(args.dois)
        try:
            first = run_command(digest, "items", "enrich", "--limit", limit)
            served, over_rate, over_concurrency = counters[0], counters[1], counters[2]
            again = run_command(digest, "items", "enrich", "--limit", limit)
        finally:
            server.terminate()
        states = counts(database_url)

    floor = args.dois / args.capacity
    print("as a user runs it: `digest items enrich`, process start to exit")
    print(f"{'run':<14}{'seconds':>9}{'x floor':>9}{'DOIs/s':>9}{'peak MB (all)':>15}  it said")
    for label, figure in (("first", first), ("nothing due", again)):
        print(
            f"{label:<14}{figure['seconds']:>9.2f}{figure['seconds'] / floor:>9.2f}"
            f"{args.dois / figure['seconds'] if label == 'first' else 0:>9.0f}"
            f"{figure['tree_rss_mb']:>15.0f}  {figure['said']}"
        )
    print(
        f"reference (the floor at the server's capacity): {args.dois:,} / {args.capacity} a "
        f"second = {floor:.1f} s"
    )
    asked = served + over_rate + over_concurrency
    print(
        f"server: {asked:,} requests, {asked / first['seconds']:.0f} a second over the first "
        f"run's whole time; {served:,} works served; refused with 429: {over_rate:,} over the "
        f"rate, {over_concurrency:,} over the concurrency"
    )
    print(f"enrichment rows by state: {states}")
    met = first["seconds"] < 30 and states.get("enriched", 0) == args.dois
    print(
        f"target: {args.dois:,} DOIs enriched in under 30 s: {'met' if met else 'MISSED'} "
        f"({first['seconds']:.1f} s, {states.get('enriched', 0):,} enriched)"
    )
    print(f"load average: {' '.join(f'{n:.2f}' for n in os.getloadavg())}")


if __name__ == "__main__":
    main()
