"""Web benchmark: triage pages over 50,000 items and 40 topics, server time per request.

    python benchmarks/web.py [--items 50000] [--requests 200] [--db URL]

Fills a new database (SQLite by default; `--db` for PostgreSQL, an empty schema) with items,
sources and topics, then times three pages through the app in-process, so the figures are the
server's own time: the triage list, a filtered list (newsletter, section, topic, status) and a
full-text search. Target: 95th percentile at or under 100 ms for each.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, insert, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from ingest import WORDS  # noqa: E402  (the same vocabulary as the ingest benchmark)


def fill(database_url: str, count: int) -> None:
    from digest import accounts
    from digest.config import load_config, sync_config
    from digest.db import (
        index_new_items,
        make_engine,
        session_factory,
        transaction,
        upgrade_schema,
    )
    from digest.ingest import dedup
    from digest.models import (
        Feed,
        Item,
        ItemSource,
        ItemStatus,
        Placement,
        PlacementTopic,
        Role,
        Topic,
        TopicSource,
    )
    from digest.timeutil import utcnow

    engine = make_engine(database_url)
    upgrade_schema(engine)
    factory = session_factory(engine)
    rng = random.Random(3)
    with transaction(factory) as session:
        sync_config(session, load_config(ROOT / "feeds.yaml"))
        existing = session.scalar(select(func.count()).select_from(Topic))
        for n in range(existing, 40):
            session.add(Topic(slug=f"extra-topic-{n}", label=f"Extra topic {n}"))
        accounts.create_user(
            session, "bench@example.org", Role.LIBRARIAN, "benchmark password", "benchmark"
        )
    with factory() as session:
        feeds = session.scalars(select(Feed)).all()
        topic_ids = list(session.scalars(select(Topic.id)))
    now = utcnow()
    statuses = [ItemStatus.NEW] * 6 + [ItemStatus.ACCEPTED] * 3 + [ItemStatus.REJECTED]
    batch = 5000
    for start in range(0, count, batch):
        items, placements, sources, links = [], [], [], []
        for n in range(start, min(count, start + batch)):
            feed = feeds[n % len(feeds)]
            title = f"{' '.join(rng.choices(WORDS, k=7)).capitalize()} {n}"
            summary = " ".join(rng.choices(WORDS, k=60)) + "."
            url = f"https://publisher{n % 300}.example.org/reports/{n}"
            published = now - timedelta(minutes=n * 7)
            items.append(
                {
                    "id": n + 1,
                    "guid": None,
                    "link": url,
                    "canonical_url": url,
                    "url_key": dedup.url_key(url),
                    "title": title,
                    "title_key": dedup.title_key(title),
                    "authors": [],
                    "published": published,
                    "published_estimated": False,
                    "summary_html": f"<p>{summary}</p>",
                    "summary_text": summary,
                    "original_title": None,
                    "original_summary_html": None,
                    "content_hash": dedup.content_hash(title, summary),
                    "first_seen_at": published,
                }
            )
            placements.append(
                {
                    "id": n + 1,
                    "item_id": n + 1,
                    "newsletter_id": feed.newsletter_id,
                    "section_id": feed.section_id,
                    "status": rng.choice(statuses),
                    "first_seen_at": published,
                    "published": published,
                }
            )
            sources.append(
                {
                    "item_id": n + 1,
                    "feed_id": feed.id,
                    "entry_key": dedup.entry_key(None, url, ""),
                    "link": url,
                    "first_seen_at": published,
                }
            )
            for topic_id in rng.sample(topic_ids, rng.randint(1, 3)):
                links.append(
                    {
                        "placement_id": n + 1,
                        "topic_id": topic_id,
                        "source": TopicSource.MANUAL,
                        "added_at": published,
                    }
                )
        with transaction(factory) as session:
            session.execute(insert(Item.__table__), items)
            session.execute(insert(Placement.__table__), placements)
            session.execute(insert(ItemSource.__table__), sources)
            session.execute(insert(PlacementTopic.__table__), links)
    with transaction(factory) as session:
        index_new_items(session, 1, count)
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE")
            for table in ("items", "placements"):
                connection.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )
    engine.dispose()


def measure(database_url: str, requests: int) -> dict[str, list[float]]:
    from webapp import csrf_token  # the tests' helper: signs in like a browser

    from digest.web import create_app

    app = create_app(database_url, secret_key="benchmark")
    client = app.test_client()
    client.post(
        "/login",
        data={
            "email": "bench@example.org",
            "password": "benchmark password",
            "csrf_token": csrf_token(client),
        },
    )
    with app.app_context():
        from digest.models import Section, Topic

        sessions = app.extensions["digest.sessions"]
        with sessions() as session:
            section = session.scalar(select(Section.id).where(Section.name == "Research"))
            topic = session.scalar(select(Topic.id).where(Topic.slug == "neglect"))
    pages = {
        "triage list": "/items",
        "filtered list": f"/items?status=accepted&section={section}&topic={topic}",
        "search": "/items?status=all&q={word}",
    }
    rng = random.Random(5)
    timings: dict[str, list[float]] = {name: [] for name in pages}
    for name, path in pages.items():
        for n in range(requests + 10):
            url = path.format(word=rng.choice(WORDS))
            if n % 4 == 3 and name != "search":
                url += ("&" if "?" in url else "?") + f"page={rng.randint(2, 20)}"
            started = time.perf_counter()
            response = client.get(url)
            elapsed = (time.perf_counter() - started) * 1000
            assert response.status_code == 200, (url, response.status_code)
            if n >= 10:  # the first few warm caches
                timings[name].append(elapsed)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--db", help="database URL (default: a new SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.db or f"sqlite:///{Path(folder) / 'web.sqlite'}"
        started = time.perf_counter()
        fill(url, args.items)
        print(
            f"{args.items} items, 40 topics loaded in {time.perf_counter() - started:.1f} s "
            f"({url.split(':')[0]})"
        )
        timings = measure(url, args.requests)
    print(f"{'page':<16}{'median ms':>11}{'p95 ms':>9}{'max ms':>9}  target p95 <= 100 ms")
    for name, values in timings.items():
        p95 = statistics.quantiles(values, n=20)[18]
        print(
            f"{name:<16}{statistics.median(values):>11.1f}{p95:>9.1f}{max(values):>9.1f}"
            f"  {'met' if p95 <= 100 else 'MISSED'}"
        )


if __name__ == "__main__":
    main()
