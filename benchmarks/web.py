"""Web benchmark: a library's archive of 1,000,000 items, server time per request.

    python benchmarks/web.py [--items 1000000] [--requests 200] [--db URL] [--reuse]

Fills a new database (SQLite by default; `--db` for PostgreSQL, an empty schema) with five
years of items (`web_data`), then times pages through the app in-process, so the figures are
the server's own time: the triage list, a filtered list (status, newsletter, section, topic),
a full-text search, the public archive's search and an edition page, each with varied
parameters; and building the week's draft. `--reuse` keeps a database already filled (give
`--db`) instead of loading it again. Targets: 95th percentile at or under 100 ms for each page,
a draft in at most 1 s.
"""

from __future__ import annotations

import argparse
import html
import os
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest import WORDS  # noqa: E402  (the same vocabulary as the ingest benchmark)
from web_data import FOREIGN, already_filled, fill, index_archive, rare_words  # noqa: E402

PAGE_TARGET_MS = 100  # the p95 target for every page
DRAFT_TARGET_S = 1.0
WARM_UP = 10  # requests per page not counted: the first few warm caches
OLDER = re.compile(r'<a href="([^"]+)" rel="next"')


def _signed_in_client(app: object) -> object:
    from webapp import csrf_token  # the tests' helper: signs in like a browser

    client = app.test_client()  # type: ignore[attr-defined]
    client.post(
        "/login",
        data={
            "email": "bench@example.org",
            "password": "benchmark password",
            "csrf_token": csrf_token(client),
        },
    )
    return client


def _page_makers(app: object, client: object) -> dict[str, Callable[[random.Random], str]]:
    """For each page timed, a maker of varied URLs for it."""
    from digest.models import Edition, Newsletter, Section, Topic

    sessions = app.extensions["digest.sessions"]  # type: ignore[attr-defined]
    with app.app_context(), sessions() as session:  # type: ignore[attr-defined]
        sections = list(session.execute(select(Section.id, Section.newsletter_id)).all())
        topics = list(session.scalars(select(Topic.id)))
        slugs = list(session.scalars(select(Topic.slug)))
        newsletters = dict(session.execute(select(Newsletter.id, Newsletter.slug)).all())
        editions = list(
            session.execute(
                select(Edition.id, Edition.newsletter_id).where(Edition.state == "sent")
            ).all()
        )

    tail = rare_words()[:5000]

    def words(rng: random.Random) -> str:
        """One or two words: common ones match most items, the tail's a few hundred."""
        found = []
        for _ in range(rng.randint(1, 2)):
            luck = rng.random()
            found.append(
                rng.choice(WORDS) if luck < 0.4 else rng.choice(FOREIGN if luck < 0.5 else tail)
            )
        return quote(" ".join(found))

    def paged(url: str, rng: random.Random) -> str:
        if rng.random() < 0.25:  # a librarian pages back now and then
            # to page 2 to 20, following the "Older" links the pages give (not timed): a page
            # starts just past the last row of the one before it.
            for _ in range(rng.randint(2, 20) - 1):
                older = OLDER.search(client.get(url).text)  # type: ignore[attr-defined]
                if older is None:
                    break
                url = html.unescape(older[1])
        return url

    def filtered(rng: random.Random) -> str:
        section, newsletter = rng.choice(sections)
        status = rng.choice(["new", "accepted", "rejected"])
        return paged(
            f"/items?status={status}&newsletter={newsletter}&section={section}"
            f"&topic={rng.choice(topics)}",
            rng,
        )

    def archive_search(rng: random.Random) -> str:
        url = f"/archive/{rng.choice(list(newsletters.values()))}?q={words(rng)}"
        return url + (f"&topic={rng.choice(slugs)}" if rng.random() < 0.3 else "")

    def edition(rng: random.Random) -> str:
        edition_id, newsletter_id = rng.choice(editions)
        return f"/archive/{newsletters[newsletter_id]}/{edition_id}"

    return {
        "triage list": lambda rng: paged("/items", rng),
        "filtered list": filtered,
        "search": lambda rng: (
            f"/items?status=all&q={' '.join(rng.sample(WORDS, rng.randint(1, 2)))}"
        ),
        "archive search": archive_search,
        "edition page": edition,
    }


def measure(database_url: str, requests: int) -> dict[str, list[float]]:
    from digest.settings import read_settings
    from digest.web import create_app, settle_for_serving

    app = create_app(read_settings(database_url=database_url, secret_key="benchmark"))
    settle_for_serving()  # as `digest serve` does once its app is built
    client = _signed_in_client(app)
    rng = random.Random(5)
    timings: dict[str, list[float]] = {}
    for name, make in _page_makers(app, client).items():
        timings[name] = []
        for n in range(requests + WARM_UP):
            url = make(rng)
            started = time.perf_counter()
            response = client.get(url)  # type: ignore[attr-defined]
            elapsed = (time.perf_counter() - started) * 1000
            assert response.status_code == 200, (url, response.status_code)
            if n >= WARM_UP:
                timings[name].append(elapsed)
    return timings


def time_drafts(database_url: str, runs: int = 3) -> list[float]:
    """Seconds to build each newsletter's draft of the week, rolled back after each run."""
    from digest.db import make_engine, session_factory
    from digest.editions.compose import build_draft
    from digest.models import Newsletter

    engine = make_engine(database_url)
    factory = session_factory(engine)
    spent = []
    with factory() as session:
        ids = list(session.scalars(select(Newsletter.id).order_by(Newsletter.id)))
    for _ in range(runs):
        for newsletter_id in ids:
            with factory() as session:
                started = time.perf_counter()
                newsletter = session.get(Newsletter, newsletter_id)
                edition = build_draft(session, newsletter, "benchmark", person=False)
                session.flush()
                spent.append(time.perf_counter() - started)
                assert edition is None or edition.entries
                session.rollback()
    engine.dispose()
    return spent


def upgrade(database_url: str) -> None:
    from digest.db import make_engine, upgrade_schema

    engine = make_engine(database_url)
    upgrade_schema(engine)
    engine.dispose()


def report(timings: dict[str, list[float]], drafts: list[float]) -> None:
    print(f"{'page':<16}{'median ms':>11}{'p95 ms':>9}{'max ms':>9}  target p95 <= 100 ms")
    for name, values in timings.items():
        p95 = statistics.quantiles(values, n=20)[18]
        print(
            f"{name:<16}{statistics.median(values):>11.1f}{p95:>9.1f}{max(values):>9.1f}"
            f"  {'met' if p95 <= PAGE_TARGET_MS else 'MISSED'}"
        )
    worst = max(drafts)
    print(
        f"{'draft build':<16}{statistics.median(drafts) * 1000:>11.1f}{'':>9}{worst * 1000:>9.1f}"
        f"  {'met' if worst <= DRAFT_TARGET_S else 'MISSED'} (target <= 1 s, every run)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--db", help="database URL (default: a new SQLite file)")
    parser.add_argument("--reuse", action="store_true", help="keep a database already filled")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.db or f"sqlite:///{Path(folder) / 'web.sqlite'}"
        held = already_filled(url) if args.reuse else 0
        if held:
            started = time.perf_counter()
            upgrade(url)  # a database filled by an older schema gets the newest migrations
            indexed = index_archive(url)  # and one filled by an older loader, the archive's index
            if indexed:
                print(f"{indexed} sent editions indexed for the archive's search")
            print(
                f"{held} items already loaded, reused ({url.split(':')[0]}); schema upgrade "
                f"{time.perf_counter() - started:.1f} s"
            )
        else:
            started = time.perf_counter()
            loaded = fill(url, args.items)
            print(
                f"{loaded}: loaded in {time.perf_counter() - started:.1f} s ({url.split(':')[0]})"
            )
        timings = measure(url, args.requests)
        drafts = time_drafts(url)
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")
    report(timings, drafts)


if __name__ == "__main__":
    main()
