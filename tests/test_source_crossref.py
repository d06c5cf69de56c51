"""A journal at Crossref polled as a source, through the real poll, against a local server
answering as Crossref's REST API does: works registered since the last run become items with
their full record, page by page with Crossref's cursor, and a failing service gives the
source the health and back-off a failing feed gets."""

from __future__ import annotations

import html
from datetime import timedelta

import pytest
from feedfactory import get_feed
from pytest_httpserver import HTTPServer
from scholarly_servers import FAST, Crossref, add_source, plain, poll_one, today
from sqlalchemy import select
from webapp import make_site

from digest.db import transaction
from digest.ingest.errors import ErrorKind
from digest.ingest.fetch import FetchSettings
from digest.ingest.poll import PollStatus, poll_feeds
from digest.models import Feed, Item, Role
from digest.timeutil import utcnow

ISSN = "0145-2134"
DISCLOSURES = "10.5555/j.chiabu.2026.107200"
SCHOOLS = "10.5555/j.chiabu.2026.107233"


@pytest.fixture
def crossref(httpserver: HTTPServer) -> Crossref:
    return Crossref(httpserver)


def items_by_doi(factory) -> dict[str, Item]:
    with factory() as session:
        return {item.doi: item for item in session.scalars(select(Item))}


def test_a_new_journal_brings_its_last_month_as_items_with_their_full_record(
    crossref: Crossref, factory
) -> None:
    crossref.add(DISCLOSURES, today() - timedelta(days=2))
    crossref.add(SCHOOLS, today() - timedelta(days=30))
    feed_id = add_source(factory, "Child Abuse & Neglect", "crossref", crossref.base, ISSN)

    outcome = poll_one(factory)

    assert (outcome.status, outcome.counts.new) == (PollStatus.UPDATED, 2)
    (asked,) = crossref.asked()
    assert asked["path"] == f"/journals/{ISSN}/works"
    since = (today() - timedelta(days=30)).isoformat()
    assert (asked["filter"], asked["cursor"], asked["rows"]) == (
        f"from-created-date:{since}",
        "*",
        "100",
    )

    items = items_by_doi(factory)
    disclosures = items[DISCLOSURES]
    assert disclosures.title == (
        "Children’s first disclosures of online abuse to helplines in Cymru and Éire"
    )
    assert disclosures.link == f"https://doi.org/{DISCLOSURES}"
    assert disclosures.authors == ["Ní Bhriain, Siobhán", "ap Rhys, Gwenllian"]
    # The JATS abstract without its headings, as paragraphs.
    assert disclosures.summary_text.startswith("Helplines in Cymru and Éire hear of online abuse")
    assert "<p>We asked how children’s first words" in disclosures.full_text_html
    assert "Background" not in disclosures.full_text_html
    assert disclosures.pmid is None
    assert disclosures.csl["container-title"] == "Child Abuse & Neglect"
    assert disclosures.csl["volume"] == "160" and disclosures.csl["ISSN"] == ISSN
    assert (disclosures.published.year, disclosures.published.month) == (2026, 12)
    assert disclosures.published_estimated

    schools = items[SCHOOLS]
    assert schools.title == (
        "Schools’ safeguarding leads and the Keeping children safe guidance — 学校 survey"
    )
    assert schools.authors == ["Ødegård, Zoë", "Safeguarding Research Network"]
    assert schools.summary_text == "" and schools.published.day == 24
    assert not schools.published_estimated

    feed = get_feed(factory, feed_id)
    assert feed.harvested_until == today().isoformat()
    assert (feed.consecutive_failures, feed.last_error) == (0, None)


def test_the_next_run_asks_from_the_stored_date_and_adds_only_the_new_works(
    crossref: Crossref, factory
) -> None:
    crossref.add(DISCLOSURES, today() - timedelta(days=2))
    feed_id = add_source(factory, "Child Abuse & Neglect", "crossref", crossref.base, ISSN)
    poll_one(factory)
    crossref.add(SCHOOLS, today())  # registered since

    outcome = poll_one(factory)

    # From the day before the stored date: a work registered just before midnight may be
    # indexed just after.
    yesterday = today() - timedelta(days=1)
    assert crossref.asked()[-1]["filter"] == f"from-created-date:{yesterday.isoformat()}"
    assert (outcome.counts.new, outcome.counts.unchanged) == (1, 0)
    assert set(items_by_doi(factory)) == {DISCLOSURES, SCHOOLS}
    assert get_feed(factory, feed_id).harvested_until == today().isoformat()


def test_a_work_dated_to_an_issue_still_to_come_is_dated_when_it_was_found(
    crossref: Crossref, factory
) -> None:
    next_year = today().replace(day=1) + timedelta(days=400)
    crossref.add(SCHOOLS, today(), issued=next_year)
    add_source(factory, "Child Abuse & Neglect", "crossref", crossref.base, ISSN)
    before = utcnow()

    poll_one(factory)

    item = items_by_doi(factory)[SCHOOLS]
    assert before <= item.published <= utcnow() and item.published_estimated
    assert item.csl["issued"] == {"date-parts": [[next_year.year, next_year.month]]}


def test_a_doi_with_characters_a_link_cannot_carry_is_kept_whole_and_linked_encoded(
    crossref: Crossref, factory
) -> None:
    sici = "10.1002/(sici)1099-0852(199601)5:1<3::aid-car233>3.0.co;2-x"
    crossref.add_many(1, today())
    crossref.rename("10.5555/0145-2134.0000", sici.upper())  # Crossref keeps a DOI's case
    add_source(factory, "Child Abuse Review", "crossref", crossref.base, ISSN)

    poll_one(factory)

    (item,) = items_by_doi(factory).values()
    assert item.doi == sici == item.csl["DOI"]
    assert item.link == (
        "https://doi.org/10.1002/(sici)1099-0852(199601)5:1%3C3::aid-car233%3E3.0.co;2-x"
    )


def test_the_contact_goes_with_every_request_for_crossref_s_polite_pool(
    crossref: Crossref, sqlite_factory
) -> None:
    crossref.add_many(150, today())
    options = {"contact": "llyfrgell@digest.test"}
    add_source(sqlite_factory, "Busy journal", "crossref", crossref.base, ISSN, options)

    poll_one(sqlite_factory)

    assert [asked["mailto"] for asked in crossref.asked()] == ["llyfrgell@digest.test"] * 2


@pytest.mark.parametrize(("options", "most"), [({}, 1), ({"contact": "llyfrgell@digest.test"}, 3)])
def test_journals_polled_together_ask_crossref_as_many_at_once_as_it_allows(
    sqlite_factory, options: dict[str, str], most: int
) -> None:
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    try:
        crossref = Crossref(server)
        crossref.delay = 0.3
        for n, issn in enumerate(["0145-2134", "0952-9136", "1099-0852", "1468-2273"]):
            crossref.add_many(1, today(), issn=issn)
            add_source(sqlite_factory, f"Journal {n}", "crossref", crossref.base, issn, options)

        report = poll_feeds(sqlite_factory, settings=FAST)

        assert [o.counts.new for o in report.outcomes] == [1, 1, 1, 1]
        assert crossref.most_at_once == most
    finally:
        server.stop()


def test_works_are_read_page_by_page_with_the_cursor_crossref_gives(
    crossref: Crossref, sqlite_factory
) -> None:
    made = crossref.add_many(250, today() - timedelta(days=1))
    add_source(sqlite_factory, "Busy journal", "crossref", crossref.base, ISSN)

    outcome = poll_one(sqlite_factory)

    assert outcome.counts.new == 250
    cursors = [asked["cursor"] for asked in crossref.asked()]
    assert len(cursors) == 3 and cursors[0] == "*"
    assert cursors[1] in crossref.cursors and cursors[2] in crossref.cursors
    assert set(items_by_doi(sqlite_factory)) == set(made)


def test_a_journal_with_more_new_works_than_the_cap_is_cut_with_a_warning(
    crossref: Crossref, sqlite_factory
) -> None:
    crossref.add_many(250, today())
    feed_id = add_source(
        sqlite_factory, "Busy journal", "crossref", crossref.base, ISSN, {"max_results": "150"}
    )

    outcome = poll_one(sqlite_factory)

    assert outcome.counts.new == 150
    assert len(crossref.asked()) == 2  # no page asked for beyond the cap
    feed = get_feed(sqlite_factory, feed_id)
    assert feed.last_error_kind == ErrorKind.WARNING and feed.consecutive_failures == 0
    assert feed.last_error == (
        "Crossref found 250 new records, and Digest reads 150 in a poll; narrow the query, "
        "or raise the option max_results."
    )


def test_without_a_cap_of_its_own_a_journal_is_read_as_far_as_a_feed_is(
    crossref: Crossref, sqlite_factory
) -> None:
    crossref.add_many(250, today())
    feed_id = add_source(sqlite_factory, "Busy journal", "crossref", crossref.base, ISSN)
    feeds_read = FetchSettings(connect_timeout=2, total_timeout=5, max_entries=120)

    (outcome,) = poll_feeds(sqlite_factory, settings=feeds_read).outcomes

    assert outcome.counts.new == 120
    assert "Crossref found 250 new records, and Digest reads 120 in a poll" in (
        get_feed(sqlite_factory, feed_id).last_error
    )


def test_a_crossref_filter_is_asked_of_all_works(crossref: Crossref, factory) -> None:
    crossref.add(DISCLOSURES, today(), issn="0952-9136")
    crossref.add(SCHOOLS, today(), issn="1099-0852")
    query = "issn:0952-9136,type:journal-article"
    add_source(factory, "Child Abuse Review", "crossref", crossref.base, query)

    assert poll_one(factory).counts.new == 1

    (asked,) = crossref.asked()
    assert asked["path"] == "/works"
    assert asked["filter"] == f"{query},from-created-date:{(today() - timedelta(days=30))}"
    assert set(items_by_doi(factory)) == {DISCLOSURES}


def test_an_unknown_issn_is_said_plainly(crossref: Crossref, sqlite_factory) -> None:
    crossref.add(DISCLOSURES, today())
    feed_id = add_source(sqlite_factory, "Mistyped", "crossref", crossref.base, "1234-5679")

    outcome = poll_one(sqlite_factory)

    assert outcome.status is PollStatus.FAILED
    feed = get_feed(sqlite_factory, feed_id)
    assert feed.last_error == (
        "Crossref knows no journal with ISSN 1234-5679. Check the ISSN in the source's query."
    )
    assert (feed.last_error_kind, feed.consecutive_failures) == (ErrorKind.HTTP_STATUS, 1)


def test_a_filter_crossref_refuses_is_said_plainly(crossref: Crossref, sqlite_factory) -> None:
    feed_id = add_source(sqlite_factory, "Odd filter", "crossref", crossref.base, "colour:blue")
    poll_one(sqlite_factory)
    assert get_feed(sqlite_factory, feed_id).last_error.startswith(
        "Crossref refused the query “colour:blue” (400 Bad Request)."
    )


@pytest.mark.parametrize(
    ("answer", "kind", "words"),
    [
        (
            plain("Internal Server Error", 500),
            ErrorKind.HTTP_STATUS,
            "The server had an internal problem (500 INTERNAL SERVER ERROR)",
        ),
        (
            plain("<html><body>Down for maintenance</body></html>", 200),
            ErrorKind.PARSE_ERROR,
            "Crossref's answer is not JSON",
        ),
        (
            plain('{"status":"error","message-type":"exception","message":{}}', 200),
            ErrorKind.PARSE_ERROR,
            "Crossref's answer has status 'error'.",
        ),
    ],
)
def test_a_failing_service_fails_the_source_as_a_failing_feed_fails(
    crossref: Crossref, sqlite_factory, answer, kind: ErrorKind, words: str
) -> None:
    crossref.add(DISCLOSURES, today())
    crossref.answer_next("/works", answer)
    feed_id = add_source(sqlite_factory, "Child Abuse & Neglect", "crossref", crossref.base, ISSN)
    before = utcnow()

    outcome = poll_one(sqlite_factory)

    assert outcome.status is PollStatus.FAILED and outcome.problem.kind is kind
    feed = get_feed(sqlite_factory, feed_id)
    assert words in feed.last_error
    assert (feed.consecutive_failures, feed.last_error_kind) == (1, kind.value)
    assert timedelta(minutes=59) < feed.next_poll_at - before < timedelta(minutes=61)
    assert feed.harvested_until is None
    assert items_by_doi(sqlite_factory) == {}


def test_a_failure_on_a_later_page_keeps_the_date_so_the_next_run_asks_again(
    crossref: Crossref, sqlite_factory
) -> None:
    crossref.add_many(150, today() - timedelta(days=1))
    feed_id = add_source(sqlite_factory, "Busy journal", "crossref", crossref.base, ISSN)
    last_week = (today() - timedelta(days=7)).isoformat()
    with transaction(sqlite_factory) as session:
        session.get_one(Feed, feed_id).harvested_until = last_week
    crossref.answer_next("/works", None)
    crossref.answer_next("/works", plain("Internal Server Error", 500))  # the second page

    failed = poll_one(sqlite_factory)

    assert failed.status is PollStatus.FAILED
    assert get_feed(sqlite_factory, feed_id).harvested_until == last_week
    assert items_by_doi(sqlite_factory) == {}  # a run stores all it found, or nothing

    again = poll_one(sqlite_factory)

    assert again.counts.new == 150
    day_before = (today() - timedelta(days=8)).isoformat()
    assert crossref.asked()[-2]["filter"] == f"from-created-date:{day_before}"


@pytest.mark.parametrize("status", [429, 503])
def test_a_busy_service_is_waited_for_as_retry_after_says(
    crossref: Crossref, sqlite_factory, status: int
) -> None:
    crossref.answer_next("/works", plain("slow down", status, {"Retry-After": "7200"}))
    feed_id = add_source(sqlite_factory, "Child Abuse & Neglect", "crossref", crossref.base, ISSN)
    before = utcnow()

    poll_one(sqlite_factory)

    feed = get_feed(sqlite_factory, feed_id)
    assert feed.last_error_kind == ErrorKind.RATE_LIMITED and "try again after" in feed.last_error
    assert timedelta(seconds=7190) < feed.next_poll_at - before < timedelta(seconds=7300)
    report = poll_feeds(sqlite_factory, include_not_due=True, settings=FAST)
    assert report.outcomes == [] and report.not_due == 1


def test_the_feed_health_page_lists_the_journal_with_its_health(
    crossref: Crossref, factory
) -> None:
    crossref.add(DISCLOSURES, today())
    add_source(factory, "Journal by ISSN", "crossref", crossref.base, "1234-5679")
    add_source(factory, "Child Abuse & Neglect", "crossref", crossref.base, ISSN)
    poll_feeds(factory, settings=FAST)

    page = html.unescape(make_site(factory).client(Role.ADMIN).get("/admin/feeds").text)

    assert "Journal by ISSN" in page and "Child Abuse & Neglect" in page
    assert "Crossref knows no journal with ISSN 1234-5679." in page
    assert "<td>1 (1)</td>" in page  # the journal that answered: one item, this week
