"""A PubMed search polled as a source, through the real poll, against a local server answering
as NCBI's E-utilities do: new PMIDs since the last run become items with their full record,
and a failing service gives the source the health and back-off a failing feed gets."""

from __future__ import annotations

import html
import itertools
from datetime import timedelta

import pytest
from feedfactory import add_feed, get_feed, rss, sample_entries
from pytest_httpserver import HTTPServer
from scholarly_servers import FAST, Entrez, add_source, esearch_error, plain, poll_one, today
from sqlalchemy import select
from webapp import make_site

from digest.db import transaction
from digest.ingest.check import check_feeds, feeds_to_check
from digest.ingest.errors import ErrorKind
from digest.ingest.poll import PollStatus, poll_feeds
from digest.ingest.sources import service_access
from digest.models import Enrichment, EnrichmentState, Feed, Item, Role
from digest.research.enrich import queue_new_items
from digest.settings import read_settings
from digest.timeutil import utcnow

QUERY = '"child sexual abuse"[MeSH] AND online'


@pytest.fixture
def entrez(httpserver: HTTPServer) -> Entrez:
    return Entrez(httpserver)


def items_by_pmid(factory) -> dict[str, Item]:
    with factory() as session:
        return {item.pmid: item for item in session.scalars(select(Item))}


def test_a_new_search_brings_the_last_month_as_items_with_their_full_record(
    entrez: Entrez, factory
) -> None:
    entrez.add("39100001", today() - timedelta(days=3))
    entrez.add("39100002", today() - timedelta(days=29))
    entrez.add("39100003", today() - timedelta(days=45))  # before the first month: not asked
    feed_id = add_source(factory, "PubMed: online abuse", "pubmed", entrez.base, QUERY)

    outcome = poll_one(factory)

    assert (outcome.status, outcome.counts.new) == (PollStatus.UPDATED, 2)
    (search,) = entrez.asked("esearch.fcgi")
    assert search["term"] == QUERY
    assert (search["db"], search["datetype"], search["reldate"]) == ("pubmed", "edat", "30")
    assert (search["retmode"], search["tool"]) == ("json", "digest")
    (fetch,) = entrez.asked("efetch.fcgi")
    assert (fetch["id"], fetch["retmode"]) == ("39100001,39100002", "xml")

    items = items_by_pmid(factory)
    grooming = items["39100001"]
    assert grooming.title == (
        "Online grooming of children in Zürich and São Paulo: a comparison of in situ reports"
    )
    assert grooming.link == "https://pubmed.ncbi.nlm.nih.gov/39100001/"
    assert grooming.doi == "10.5555/chiabu.2026.107012"
    assert grooming.authors == [
        "Müller-Lüdenscheidt, Anna-Lena",
        "Conceição, João",
        "Ngũgĩ, Wanjirũ",
    ]
    assert grooming.summary_text.startswith("BACKGROUND: Online grooming is reported more often")
    assert "p < 0.05" in grooming.full_text_html.replace("&lt;", "<")
    assert (grooming.published.year, grooming.published.month) == (2026, 11)
    assert grooming.published_estimated  # November 2026, no day
    assert grooming.csl["container-title"] == "Child abuse & neglect"
    assert grooming.csl["PMID"] == "39100001"
    assert grooming.publisher == "Child abuse & neglect"

    japanese = items["39100002"]
    assert japanese.title == "子どもの性的虐待とオンライン — 東京の学校からの報告"
    assert japanese.authors == ["佐藤, 花子", "Tokyo Child Safety Study Group"]
    assert japanese.doi is None and japanese.csl["PMCID"] == "PMC11900002"
    assert not japanese.published_estimated

    feed = get_feed(factory, feed_id)
    assert feed.harvested_until == today().isoformat()
    assert (feed.consecutive_failures, feed.last_error) == (0, None)


def test_the_next_run_asks_from_the_stored_date_and_adds_only_the_new_records(
    entrez: Entrez, factory
) -> None:
    entrez.add("39100001", today() - timedelta(days=3))
    feed_id = add_source(factory, "PubMed: online abuse", "pubmed", entrez.base, QUERY)
    poll_one(factory)
    entrez.add("39100002", today())  # added to PubMed since

    outcome = poll_one(factory)

    later = entrez.asked("esearch.fcgi")[-1]
    # From the day before the stored date: PubMed's day ends hours after the UTC day.
    yesterday, day = (d.strftime("%Y/%m/%d") for d in (today() - timedelta(days=1), today()))
    assert (later["mindate"], later["maxdate"], later["datetype"]) == (yesterday, day, "edat")
    assert "reldate" not in later
    assert entrez.asked("efetch.fcgi")[-1]["id"] == "39100002"
    assert (outcome.counts.new, outcome.counts.unchanged) == (1, 0)
    assert set(items_by_pmid(factory)) == {"39100001", "39100002"}
    assert get_feed(factory, feed_id).harvested_until == today().isoformat()


def test_the_contact_and_api_key_go_with_every_request(entrez: Entrez, sqlite_factory) -> None:
    """Both come from the settings (the key is a secret, never in feeds.yaml), as every
    command that polls passes them."""
    entrez.add("39100001", today())
    add_source(sqlite_factory, "Keyed", "pubmed", entrez.base, QUERY)
    settings = read_settings(
        {}, research_contact="llyfrgell@digest.test", ncbi_api_key="0123456789abcdef"
    )

    poll_feeds(
        sqlite_factory,
        include_not_due=True,
        settings=FAST,
        source_access=service_access(settings),
    )

    for asked in entrez.asked("esearch.fcgi") + entrez.asked("efetch.fcgi"):
        assert (asked["tool"], asked["email"]) == ("digest", "llyfrgell@digest.test")
        assert asked["api_key"] == "0123456789abcdef"


def test_items_that_came_with_their_record_need_no_enrichment(entrez: Entrez, factory) -> None:
    entrez.add("39100001", today())  # with a DOI
    entrez.add("39100002", today())  # without one: known by its PMID
    add_source(factory, "PubMed: online abuse", "pubmed", entrez.base, QUERY)
    poll_one(factory)

    with transaction(factory) as session:
        assert queue_new_items(session, utcnow()) == 2
    with factory() as session:
        states = {row.identifier: row.state for row in session.scalars(select(Enrichment))}
    assert states == {
        "10.5555/chiabu.2026.107012": EnrichmentState.ENRICHED,
        "39100002": EnrichmentState.ENRICHED,
    }


def test_a_record_seen_again_in_the_overlapping_day_is_unchanged(entrez: Entrez, factory) -> None:
    entrez.add("39100001", today())
    add_source(factory, "PubMed: online abuse", "pubmed", entrez.base, QUERY)
    poll_one(factory)
    outcome = poll_one(factory)  # the last day is asked again: nothing indexed late is missed
    assert (outcome.counts.new, outcome.counts.unchanged) == (0, 1)
    assert len(items_by_pmid(factory)) == 1


def test_a_search_with_nothing_new_fetches_nothing_and_stays_healthy(
    entrez: Entrez, sqlite_factory
) -> None:
    entrez.add("39100003", today() - timedelta(days=45))
    feed_id = add_source(sqlite_factory, "Quiet search", "pubmed", entrez.base, QUERY)

    outcome = poll_one(sqlite_factory)

    assert (outcome.status, outcome.counts.new) == (PollStatus.UPDATED, 0)
    assert entrez.asked("efetch.fcgi") == []
    feed = get_feed(sqlite_factory, feed_id)
    assert (feed.harvested_until, feed.last_error) == (today().isoformat(), None)


def test_a_large_search_is_read_page_by_page_up_to_the_cap_with_a_warning(
    entrez: Entrez, sqlite_factory
) -> None:
    pmids = entrez.add_many(40_000_000, 700, today() - timedelta(days=1))
    feed_id = add_source(
        sqlite_factory, "Broad search", "pubmed", entrez.base, "child", {"max_results": "600"}
    )

    outcome = poll_one(sqlite_factory)

    assert outcome.counts.new == 600
    assert [s["retstart"] for s in entrez.asked("esearch.fcgi")] == ["0", "500"]
    fetched = [f["id"].split(",") for f in entrez.asked("efetch.fcgi")]
    assert [len(batch) for batch in fetched] == [200, 200, 200]
    newest = sorted(pmids, key=int, reverse=True)[:600]
    assert [pmid for batch in fetched for pmid in batch] == newest
    feed = get_feed(sqlite_factory, feed_id)
    assert feed.last_error_kind == ErrorKind.WARNING
    assert feed.last_error == (
        "PubMed found 700 new records, and Digest reads 600 in a poll; narrow the query, "
        "or raise the option max_results."
    )
    assert feed.consecutive_failures == 0


def test_searches_polled_together_ask_pubmed_no_faster_than_ncbi_allows(
    entrez: Entrez, sqlite_factory
) -> None:
    entrez.add("39100001", today())
    for name in ("Grooming", "Sextortion", "Disclosure"):
        add_source(sqlite_factory, name, "pubmed", entrez.base, f"{name} AND online")

    report = poll_feeds(sqlite_factory, settings=FAST)

    assert sorted(o.counts.new for o in report.outcomes) == [0, 0, 1]  # one item, three times
    arrivals = sorted(entrez.arrivals)
    assert len(arrivals) == 6  # three searches and three fetches
    # NCBI allows 3 requests a second without an API key: six take 5/3 s at least, less
    # what a busy machine's scheduling shifts their arrival by (unpaced, they take ~0.1 s).
    assert arrivals[-1] - arrivals[0] > 1.3
    assert sorted(b - a for a, b in itertools.pairwise(arrivals))[1] > 0.2


def test_a_service_that_pages_wrongly_is_not_asked_for_ever(entrez: Entrez, sqlite_factory) -> None:
    entrez.add_many(40_000_000, 700, today())
    entrez.ignores_retstart = True
    options = {"max_results": "1000"}
    add_source(sqlite_factory, "Broken mirror", "pubmed", entrez.base, "child", options)

    outcome = poll_one(sqlite_factory)

    assert [s["retstart"] for s in entrez.asked("esearch.fcgi")] == ["0", "500"]
    assert outcome.counts.new == 500  # the one page there was


def test_words_pubmed_does_not_know_are_named_and_the_rest_is_still_read(
    entrez: Entrez, factory
) -> None:
    entrez.add("39100001", today())
    entrez.phrases_not_found = ["grroming"]
    feed_id = add_source(factory, "Misspelt", "pubmed", entrez.base, "grroming AND online")

    outcome = poll_one(factory)

    assert outcome.counts.new == 1
    feed = get_feed(factory, feed_id)
    assert feed.last_error == "PubMed knows no records for “grroming”, so it searched without them."
    assert feed.last_error_kind == ErrorKind.WARNING and feed.consecutive_failures == 0


@pytest.mark.parametrize(
    ("utility", "answer", "kind", "words"),
    [
        (
            "esearch.fcgi",
            plain("Internal Server Error", 500),
            ErrorKind.HTTP_STATUS,
            "The server had an internal problem (500 INTERNAL SERVER ERROR)",
        ),
        (
            "esearch.fcgi",
            plain("<html><body>Bad gateway</body></html>", 200),
            ErrorKind.PARSE_ERROR,
            "PubMed's search answer is not JSON",
        ),
        (
            "esearch.fcgi",
            esearch_error("Search Backend failed: read error."),
            ErrorKind.PARSE_ERROR,
            "PubMed refused the search: Search Backend failed: read error.",
        ),
        (
            "esearch.fcgi",
            plain("Not Found", 404),
            ErrorKind.HTTP_STATUS,
            "PubMed's E-utilities were not found at",
        ),
        (
            "efetch.fcgi",
            plain("Internal Server Error", 502),
            ErrorKind.HTTP_STATUS,
            "(502 BAD GATEWAY)",
        ),
        (
            "efetch.fcgi",
            plain("<eFetchResult><ERROR>Unable to obtain query #1</ERROR></eFetchResult>", 200),
            ErrorKind.PARSE_ERROR,
            "PubMed answered with an error: Unable to obtain query #1",
        ),
    ],
)
def test_a_failing_service_fails_the_source_as_a_failing_feed_fails(
    entrez: Entrez, sqlite_factory, utility: str, answer, kind: ErrorKind, words: str
) -> None:
    entrez.add("39100001", today())
    entrez.answer_next(utility, answer)
    feed_id = add_source(sqlite_factory, "PubMed: online abuse", "pubmed", entrez.base, QUERY)
    before = utcnow()

    outcome = poll_one(sqlite_factory)

    assert outcome.status is PollStatus.FAILED and outcome.problem.kind is kind
    feed = get_feed(sqlite_factory, feed_id)
    assert words in feed.last_error
    assert (feed.consecutive_failures, feed.last_error_kind) == (1, kind.value)
    # Backed off by the poll interval (an hour), as a failing feed is; nothing stored, and
    # the next run asks for the first month again.
    assert timedelta(minutes=59) < feed.next_poll_at - before < timedelta(minutes=61)
    assert feed.harvested_until is None
    assert items_by_pmid(sqlite_factory) == {}


def test_a_year_in_superscript_digits_loses_the_date_not_the_article(
    entrez: Entrez, httpserver: HTTPServer, sqlite_factory
) -> None:
    """str.isdigit() says yes to "²⁰²⁶", which int() refuses: once that lost the whole search.
    The article is kept, dated when Digest found it, and the feed beside it is polled too."""
    entrez.add("39100001", today())
    odd = entrez.articles["39100001"][1].replace(
        "<Year>2026</Year><Month>Nov", "<Year>²⁰²⁶</Year><Month>Nov"
    )
    entrez.articles["39100001"] = (today(), odd)
    add_source(sqlite_factory, "PubMed: online abuse", "pubmed", entrez.base, QUERY)
    httpserver.expect_request("/feed.xml").respond_with_data(rss(sample_entries(count=2)))
    add_feed(sqlite_factory, "Policy feed", httpserver.url_for("/feed.xml"))

    report = poll_feeds(sqlite_factory, settings=FAST)

    search, feed = sorted(report.outcomes, key=lambda o: o.feed_id)
    assert (feed.status, feed.counts.new) == (PollStatus.UPDATED, 2)
    assert (search.status, search.counts.new) == (PollStatus.UPDATED, 1)
    article = items_by_pmid(sqlite_factory)["39100001"]
    assert article.published_estimated


def test_too_many_requests_waits_for_retry_after_like_a_feed(
    entrez: Entrez, sqlite_factory
) -> None:
    entrez.answer_next("esearch.fcgi", plain("slow down", 429, {"Retry-After": "7200"}))
    feed_id = add_source(sqlite_factory, "PubMed: online abuse", "pubmed", entrez.base, QUERY)
    before = utcnow()

    poll_one(sqlite_factory)

    feed = get_feed(sqlite_factory, feed_id)
    assert feed.last_error_kind == ErrorKind.RATE_LIMITED
    assert "asked Digest to slow down (429 Too Many Requests)" in feed.last_error
    assert "try again after" in feed.last_error
    assert timedelta(seconds=7190) < feed.next_poll_at - before < timedelta(seconds=7300)
    # Even "poll everything now" waits for the service's Retry-After.
    report = poll_feeds(sqlite_factory, include_not_due=True, settings=FAST)
    assert report.outcomes == [] and report.not_due == 1
    assert len(entrez.asked("esearch.fcgi")) == 1


def test_an_unusable_option_is_named_on_the_source(entrez: Entrez, sqlite_factory) -> None:
    """feeds.yaml refuses such an option; a source stored before that rule still fails alone,
    saying why, rather than asking PubMed something else."""
    feed_id = add_source(sqlite_factory, "Odd", "pubmed", entrez.base, QUERY)
    with transaction(sqlite_factory) as session:
        session.get(Feed, feed_id).source_options = {"first_days": "a month"}
    outcome = poll_one(sqlite_factory)
    assert outcome.status is PollStatus.FAILED
    assert get_feed(sqlite_factory, feed_id).last_error == (
        "The option first_days must be a whole number from 1 to 3,650, not 'a month'."
    )
    assert entrez.asked("esearch.fcgi") == []


def test_the_feed_health_page_lists_the_search_with_its_health(entrez: Entrez, factory) -> None:
    entrez.answer_next("esearch.fcgi", esearch_error("Search Backend failed"))
    add_source(factory, "PubMed: online grooming", "pubmed", entrez.base, QUERY)
    poll_one(factory)

    page = html.unescape(make_site(factory).client(Role.ADMIN).get("/admin/feeds").text)

    assert "PubMed: online grooming" in page
    assert "PubMed refused the search: Search Backend failed." in page


def test_feeds_check_asks_the_search_as_a_poll_would_and_stores_nothing(
    entrez: Entrez, sqlite_factory
) -> None:
    """`digest feeds check` harvests a source by its own protocol (not as a feed, which a
    PubMed address is not), says how many records it reads, and keeps nothing of it."""
    entrez.add("39100001", today())
    entrez.add("39100002", today())
    feed_id = add_source(sqlite_factory, "PubMed: online abuse", "pubmed", entrez.base, QUERY)

    with sqlite_factory() as session:
        to_check = feeds_to_check(session, settings=FAST)
    (check,) = check_feeds(to_check, FAST)

    assert (check.name, check.entries, check.failed) == ("PubMed: online abuse", 2, False)
    assert entrez.asked("esearch.fcgi")[-1]["term"] == QUERY
    assert items_by_pmid(sqlite_factory) == {}
    assert get_feed(sqlite_factory, feed_id).harvested_until is None


def test_feeds_check_says_why_a_search_fails(entrez: Entrez, sqlite_factory) -> None:
    entrez.answer_next("esearch.fcgi", esearch_error("Search Backend failed"))
    add_source(sqlite_factory, "PubMed: online grooming", "pubmed", entrez.base, QUERY)

    with sqlite_factory() as session:
        (check,) = check_feeds(feeds_to_check(session, settings=FAST), FAST)

    assert check.failed
    assert check.note == "PubMed refused the search: Search Backend failed."
