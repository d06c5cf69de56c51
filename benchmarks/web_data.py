"""A library's archive for the web benchmark: five years of items, bulk-loaded.

Items are spread evenly over five years from 100 feeds, ids rising with time as ingest gives
them; each has one to three topics, and one in ten reached the second newsletter too. Older
items are mostly decided (rejected, or accepted and sent in that week's edition, frozen as it
was approved); the last week is mostly new and waits for the next draft. Rows go in through
Core `executemany` on SQLite and `COPY` on PostgreSQL, with the secondary indexes dropped
during the load and built once at the end, as a restore from a dump does.
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, insert, select, text
from sqlalchemy.exc import DBAPIError

ROOT = Path(__file__).resolve().parent.parent
YEARS = 5
FEEDS = 100  # CASPAR-sized: the 100 feeds
TOPICS = 40
BATCH = 20_000
SECOND_NEWSLETTER = 10  # one item in this many is found for both newsletters
# Share of placements accepted (and sent in an edition) in past weeks; the rest split between
# rejected and never looked at. In the current week most are new.
PAST_ACCEPTED, PAST_REJECTED = 0.04, 0.60
NOW_ACCEPTED = 0.10
# Besides the ingest benchmark's 28 common words, each summary carries a few of a long tail of
# rarer ones, drawn by Zipf's law as words in real text are: a search for one of those matches
# few items, the hard case for a plan that walks the newest items looking for matches.
RARE_WORDS = 20_000
RARE_PER_ITEM = 8
_SYLLABLES = [
    "ka",
    "lo",
    "mi",
    "ne",
    "su",
    "ri",
    "ta",
    "ve",
    "do",
    "pa",
    "gu",
    "le",
    "fo",
    "zi",
    "ba",
]
# Non-ASCII words a Welsh or French source brings, so that searches for them are timed too.
FOREIGN = ["llesiant", "ŵyr", "gofal", "enfance", "protección", "écoles", "Jugendämter", "儿童"]
BULK_TABLES = ("items", "placements", "item_sources", "placement_topics", "edition_items")


def already_filled(database_url: str) -> int:
    """How many items the database holds (0 when it has no schema yet)."""
    from digest.db import make_engine

    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            return connection.scalar(text("SELECT max(id) FROM items")) or 0
    except DBAPIError:  # no table yet: an empty database
        return 0
    finally:
        engine.dispose()


def _setup(factory: Any, rng: random.Random) -> tuple[list[Any], list[tuple[int, str, str]]]:
    """Configuration, 100 feeds, 40 topics and a librarian; returns feeds and topics."""
    from digest import accounts
    from digest.config import load_config, sync_config
    from digest.db import transaction
    from digest.models import Feed, Newsletter, Role, Section, Topic

    with transaction(factory) as session:
        sync_config(session, load_config(ROOT / "feeds.yaml"))
        for n in range(session.scalar(select(func.count()).select_from(Topic)) or 0, TOPICS):
            session.add(Topic(slug=f"extra-topic-{n}", label=f"Extra topic {n}"))
        sections = session.scalars(select(Section)).all()
        for n in range(session.scalar(select(func.count()).select_from(Feed)) or 0, FEEDS):
            section = rng.choice(sections)
            session.add(
                Feed(
                    name=f"Publisher feed {n}",
                    url=f"https://publisher{n}.example.org/feed.xml",
                    newsletter_id=section.newsletter_id,
                    section_id=section.id,
                )
            )
        accounts.create_user(
            session, "bench@example.org", Role.LIBRARIAN, "benchmark password", "benchmark"
        )
    with factory() as session:
        feeds = list(session.scalars(select(Feed)).all())
        for feed in feeds:
            session.expunge(feed)
        topics = [tuple(row) for row in session.execute(select(Topic.id, Topic.slug, Topic.label))]
        sections_of = {
            n.id: [(s.id, s.name, s.position) for s in n.sections]
            for n in session.scalars(select(Newsletter))
        }
    for feed in feeds:
        feed.sections_of_other = [  # type: ignore[attr-defined]
            (s[0], s[1], nid)
            for nid, found in sections_of.items()
            if nid != feed.newsletter_id
            for s in found
        ]
        feed.section_name = next(  # type: ignore[attr-defined]
            s[1] for found in sections_of.values() for s in found if s[0] == feed.section_id
        )
    return feeds, topics  # type: ignore[return-value]


def rare_words() -> list[str]:
    """The long tail, most frequent first: 'kalo', 'kami', …, with a few non-ASCII words."""
    words = [
        a + b + c + d
        for c in ["", *_SYLLABLES]
        for d in ["", *_SYLLABLES]
        for a in _SYLLABLES
        for b in _SYLLABLES
        if a != b and (c or not d)
    ][:RARE_WORDS]
    for rank, word in zip(range(5, 5000, 600), FOREIGN, strict=False):
        words[rank] = word
    return words


def _monday(moment: datetime) -> datetime:
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


def generate(
    count: int, feeds: list[Any], topics: list[tuple[int, str, str]], now: datetime
) -> Iterator[dict[str, list[dict[str, Any]]]]:
    """Rows in batches; editions are gathered by the caller from the accepted placements."""
    from ingest import WORDS  # the ingest benchmark's vocabulary

    from digest.ingest import dedup

    rng = random.Random(3)
    tail = rare_words()
    zipf = list(itertools.accumulate(1 / (rank + 1) for rank in range(len(tail))))
    start = now - timedelta(days=365 * YEARS)
    span = (now - start).total_seconds()
    this_week = _monday(now)
    placement_id = 0
    for first in range(0, count, BATCH):
        rows: dict[str, list[dict[str, Any]]] = {t: [] for t in BULK_TABLES}
        for n in range(first, min(count, first + BATCH)):
            feed = feeds[n % len(feeds)]
            title = f"{' '.join(rng.choices(WORDS, k=7)).capitalize()} {n}"
            words = rng.choices(WORDS, k=60 - RARE_PER_ITEM)
            words += rng.choices(tail, cum_weights=zipf, k=RARE_PER_ITEM)
            rng.shuffle(words)
            summary = " ".join(words) + "."
            url = f"https://publisher{n % FEEDS}.example.org/reports/{n}"
            published = start + timedelta(seconds=span * n / count)
            seen = published + timedelta(minutes=rng.randint(5, 600))
            item_id = n + 1
            rows["items"].append(
                {
                    "id": item_id,
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
                    "content_hash": dedup.content_hash(title, summary),
                    "first_seen_at": seen,
                }
            )
            rows["item_sources"].append(
                {
                    "id": item_id,
                    "item_id": item_id,
                    "feed_id": feed.id,
                    "entry_key": dedup.entry_key(None, url, ""),
                    "link": url,
                    "first_seen_at": seen,
                }
            )
            where = [(feed.newsletter_id, feed.section_id, feed.section_name)]
            if n % SECOND_NEWSLETTER == 0 and feed.sections_of_other:
                other = rng.choice(feed.sections_of_other)
                where.append((other[2], other[0], other[1]))
            recent = published >= this_week
            for newsletter_id, section_id, section_name in where:
                placement_id += 1
                luck = rng.random()
                if recent:
                    status = "accepted" if luck < NOW_ACCEPTED else "new"
                elif luck < PAST_ACCEPTED:
                    status = "accepted"
                else:
                    status = "rejected" if luck < PAST_ACCEPTED + PAST_REJECTED else "new"
                chosen = sorted(rng.sample(topics, rng.randint(1, 3)), key=lambda t: t[1])
                rows["placements"].append(
                    {
                        "id": placement_id,
                        "item_id": item_id,
                        "newsletter_id": newsletter_id,
                        "section_id": section_id,
                        "status": status,
                        "first_seen_at": seen,
                        # Suggested for when its poll stored it, as every polled item is.
                        "suggested_at": seen,
                        "published": published,
                    }
                )
                rows["placement_topics"] += [
                    {
                        "placement_id": placement_id,
                        "topic_id": topic_id,
                        "source": "manual",
                        "added_at": seen,
                    }
                    for topic_id, _, _ in chosen
                ]
                if status == "accepted" and not recent:
                    rows["edition_items"].append(
                        {
                            "newsletter_id": newsletter_id,
                            "week": _monday(published).date(),
                            "item_id": item_id,
                            "frozen": {
                                "title": title,
                                "link": url,
                                "summary_html": f"<p>{summary}</p>",
                                "summary_text": summary,
                                "published": published.isoformat(),
                                "published_estimated": False,
                                "source": feed.name,
                                "citation": None,
                                "section": section_name,
                                "topics": [slug for _, slug, _ in chosen],
                                "topic_labels": sorted(label for _, _, label in chosen),
                            },
                        }
                    )
        yield rows


def index_archive(database_url: str) -> int:
    """Keep beside each sent edition what approval keeps for the archive's search (its words,
    its items' topics), in a database filled before the loader wrote them; returns how many
    editions needed it."""
    from digest.db import make_engine
    from digest.editions.archive_index import edition_topics, edition_words, item_topics

    engine = make_engine(database_url)
    with engine.begin() as connection:
        editions = connection.execute(
            text(
                "SELECT id, subject, intro FROM editions "
                "WHERE search_words IS NULL OR search_topics IS NULL"
            )
        ).all()
        for edition_id, subject, intro in editions:
            entries = [
                (entry_id, json.loads(frozen) if isinstance(frozen, str) else frozen)
                for entry_id, frozen in connection.execute(
                    text("SELECT id, frozen FROM edition_items WHERE edition_id = :id"),
                    {"id": edition_id},
                )
            ]
            connection.execute(
                text("UPDATE edition_items SET topics = :topics WHERE id = :id"),
                [{"id": entry_id, "topics": item_topics(item)} for entry_id, item in entries],
            )
            items = [item for _, item in entries]
            connection.execute(
                text(
                    "UPDATE editions SET search_words = :words, search_topics = :topics "
                    "WHERE id = :id"
                ),
                {
                    "id": edition_id,
                    "words": edition_words(subject, intro, items),
                    "topics": edition_topics(item_topics(item) for item in items),
                },
            )
    engine.dispose()
    return len(editions)


def _secondary_indexes(connection: Connection) -> list[tuple[str, str]]:
    """(name, CREATE statement) of the bulk tables' indexes that back no constraint."""
    tables = ", ".join(f"'{t}'" for t in BULK_TABLES)
    if connection.dialect.name == "postgresql":
        query = (
            f"SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN ({tables}) "
            "AND schemaname = current_schema() "
            "AND indexname NOT IN (SELECT conname FROM pg_constraint)"
        )
    else:
        query = (
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' "
            f"AND tbl_name IN ({tables}) AND sql IS NOT NULL"
        )
    return [(name, sql) for name, sql in connection.exec_driver_sql(query)]


def _write(connection: Connection, table: str, rows: list[dict[str, Any]]) -> None:
    from digest.models import Base

    if not rows:
        return
    if connection.dialect.name != "postgresql":
        connection.execute(insert(Base.metadata.tables[table]), rows)
        return
    columns = list(rows[0])
    json_columns = {"authors", "frozen"}
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([json.dumps(row[c]) if c in json_columns else row[c] for c in columns])


def _write_editions(
    connection: Connection, entries: list[dict[str, Any]], titles: dict[int, str]
) -> int:
    """One sent edition per newsletter and past week, holding that week's accepted items."""
    from digest.editions.archive_index import edition_topics, edition_words, item_topics

    editions: dict[tuple[int, Any], int] = {}
    rows, positions = [], []
    held: list[list[dict[str, Any]]] = []  # each edition's frozen items
    for entry in entries:
        key = (entry["newsletter_id"], entry["week"])
        if key not in editions:
            editions[key] = len(editions) + 1
            positions.append(0)
            held.append([])
        edition_id = editions[key]
        rows.append(
            {
                "id": len(rows) + 1,
                "edition_id": edition_id,
                "item_id": entry["item_id"],
                "position": positions[edition_id - 1],
                "frozen": entry["frozen"],
                "topics": item_topics(entry["frozen"]),  # what approval keeps for the search
            }
        )
        positions[edition_id - 1] += 1
        held[edition_id - 1].append(entry["frozen"])
    sent = []
    for (newsletter_id, week), edition_id in editions.items():
        at = datetime.combine(week, datetime.min.time()).astimezone() + timedelta(days=8)
        subject = f"{titles[newsletter_id]}: week commencing {week.day} {week:%B %Y}"
        sent.append(
            {
                "id": edition_id,
                "newsletter_id": newsletter_id,
                "period_start": week,
                "state": "sent",
                "subject": subject,
                "intro": "",
                "search_words": edition_words(subject, "", held[edition_id - 1]),
                "search_topics": edition_topics(item_topics(i) for i in held[edition_id - 1]),
                "created_at": at,
                "created_by": "benchmark",
                "approved_by": "bench@example.org",
                "approved_at": at,
                "send_at": at,
                "sent_at": at,
            }
        )
    _write(connection, "editions", sent)
    for first in range(0, len(rows), BATCH):
        _write(connection, "edition_items", rows[first : first + BATCH])
    return len(editions)


def fill(database_url: str, count: int) -> str:
    """Load `count` items; returns a line saying what was loaded."""
    from digest.db import make_engine, session_factory, upgrade_schema
    from digest.models import Newsletter
    from digest.timeutil import utcnow

    engine = make_engine(database_url)
    upgrade_schema(engine)
    factory = session_factory(engine)
    feeds, topics = _setup(factory, random.Random(2))
    with factory() as session:
        titles = dict(session.execute(select(Newsletter.id, Newsletter.title)).all())
    with engine.begin() as connection:
        dropped = _secondary_indexes(connection)
        for name, _ in dropped:
            connection.exec_driver_sql(f"DROP INDEX {name}")
        entries: list[dict[str, Any]] = []
        placements = 0
        for rows in generate(count, feeds, topics, utcnow()):
            entries += rows.pop("edition_items")
            placements += len(rows["placements"])
            for table in ("items", "item_sources", "placements", "placement_topics"):
                _write(connection, table, rows[table])
        editions = _write_editions(connection, entries, titles)
        for _, statement in dropped:
            connection.exec_driver_sql(statement)
        if connection.dialect.name == "sqlite":  # `db.index_new_items` for the whole load
            connection.execute(
                text(
                    "INSERT INTO items_fts(rowid, title, summary_text, authors) "
                    "SELECT id, title, summary_text, authors FROM items"
                )
            )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        if connection.dialect.name == "postgresql":
            # As autovacuum would have done in a database that grew over five years: until a
            # bulk-loaded table is vacuumed, no page is marked all-visible, and every lookup an
            # index could answer goes back to the table as well.
            connection.exec_driver_sql("VACUUM ANALYZE")
            for table in ("items", "item_sources", "placements", "editions", "edition_items"):
                connection.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )
        else:
            connection.exec_driver_sql("ANALYZE")
    engine.dispose()
    return (
        f"{count} items over {YEARS} years from {len(feeds)} feeds, {placements} placements, "
        f"{len(topics)} topics, {editions} sent editions holding {len(entries)} items"
    )
