"""A journal at Crossref polled as a source: the works its ISSN (or a Crossref filter) names
that were registered since the last harvest, read page by page with Crossref's cursor, each
becoming an item with its structured record.

New works are asked for by the date Crossref first registered them (`from-created-date`),
not the date it last indexed them: Crossref re-indexes old works whenever anything about them
changes (a citation counted), and "indexed since" would bring years of a journal's back
catalogue in as new.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date
from typing import Any
from urllib.parse import quote, urlencode

from digest.ingest import sources
from digest.ingest.errors import ErrorKind, FeedProblem
from digest.ingest.fetch import Fetcher, FetchResult, FetchStatus
from digest.ingest.parse import ParsedEntry
from digest.ingest.sources import Harvest, SourcePlan
from digest.research import harvests
from digest.research.crossref import CrossrefResponseError, parse_work_list
from digest.research.harvests import OptionError

SERVICE = "Crossref"
DOI_LINK = "https://doi.org/{doi}"
ISSN = re.compile(r"^\d{4}-?\d{3}[\dX]$", re.IGNORECASE)
# Works a page asks for: Crossref allows up to 1,000, but a page that large takes seconds to
# build and is several megabytes; at 100 a journal's month is one or two requests.
PAGE_ROWS = 100
ACCEPT = "application/json"
# Crossref's published limits: 5 requests a second and 1 at a time; 10 a second and 3 at a
# time for a caller who gives a contact address (its "polite" pool).
RATE, POLITE_RATE = 5, 10
CONCURRENCY, POLITE_CONCURRENCY = 1, 3


def works_url(base: str, query: str, since: date, cursor: str, mailto: str | None) -> str:
    """The address of one page of works: a journal's by its ISSN, else all works under the
    Crossref filter `query`, in either case registered on or after `since`."""
    created = f"from-created-date:{since.isoformat()}"
    if ISSN.match(query):
        issn = query.upper() if "-" in query else f"{query[:4]}-{query[4:]}".upper()
        path, where = f"journals/{quote(issn)}/works", created
    else:
        path, where = "works", f"{query},{created}"
    params = {"filter": where, "rows": str(PAGE_ROWS), "cursor": cursor}
    if mailto:
        params["mailto"] = mailto  # Crossref's "polite" pool: faster, and it can write to us
    return f"{base.rstrip('/')}/{path}?{urlencode(params)}"


def _service_problem(result: FetchResult, query: str) -> FetchResult:
    """A failed response's problem said as Crossref's: an unknown journal or a filter Crossref
    refuses is the source's own setting to fix, not an address that moved."""
    problem = result.problem
    if problem is None or problem.http_status not in (400, 404):
        return result
    if problem.http_status == 404 and ISSN.match(query):
        words = (
            f"Crossref knows no journal with ISSN {query}. Check the ISSN in the source's query."
        )
    elif problem.http_status == 404:
        words = f"Crossref has no works list at {result.request.url.split('?')[0]} (404 Not Found)."
    else:
        words = (
            f"Crossref refused the query “{query}” (400 Bad Request). Give an ISSN such as "
            "0145-2134, or a filter Crossref knows, such as issn:0145-2134,type:journal-article."
        )
    return replace(result, problem=FeedProblem(problem.kind, words, problem.http_status))


def doi_link(doi: str) -> str:
    """The DOI's address at doi.org, with what a URL cannot carry as it is (a SICI's "<", a
    "#" or "?") percent-encoded, as the DOI Handbook asks."""
    return DOI_LINK.format(doi=quote(doi, safe="/:;()"))


def _entry(record: dict[str, Any]) -> ParsedEntry:
    doi = record["DOI"]
    link = doi_link(doi)
    return harvests.record_entry(record, link=link, guid=f"doi:{doi}", identity=f"doi:{doi}")


@dataclass(frozen=True)
class _Journal:
    """A source's journal (or filter) as a harvest asks for it, with the first run's days, the
    cap, and the contact that puts Digest in Crossref's polite pool."""

    query: str
    first_days: int
    cap: int
    mailto: str | None

    @classmethod
    def of(cls, source: SourcePlan) -> _Journal:
        """The source's journal; OptionError naming what cannot be used."""
        query = (source.query or "").strip()
        if not query:
            raise OptionError("The source has no query: give the journal's ISSN.")
        first_days = harvests.whole_option(
            source.options, "first_days", harvests.FIRST_DAYS, harvests.MAX_FIRST_DAYS
        )
        contact = source.options.get("contact") or source.access.get("contact")
        return cls(query, first_days, harvests.result_cap(source), str(contact or "") or None)


@dataclass
class _Works:
    records: list[dict[str, Any]]
    total: int  # how many works the query matches
    last: FetchResult


async def _read_works(
    fetcher: Fetcher, source: SourcePlan, journal: _Journal, since: date
) -> _Works | Harvest:
    """The works registered since `since`, page by page up to the cap; or, when a request
    fails, the harvest that stopped on it."""
    polite = journal.mailto is not None
    pace = harvests.pace(SERVICE, POLITE_RATE if polite else RATE)
    slots = harvests.slots(SERVICE, POLITE_CONCURRENCY if polite else CONCURRENCY)
    records: list[dict[str, Any]] = []
    cursor, asked = "*", 0
    while True:
        url = works_url(source.url, journal.query, since, cursor, journal.mailto)
        async with slots:
            await pace.wait()
            result = await fetcher.fetch(source.request(url, ACCEPT))
        if result.status is not FetchStatus.FETCHED:
            return Harvest(_service_problem(result, journal.query), None)
        try:
            page = parse_work_list(result.body)
        except CrossrefResponseError as error:
            return sources.failed(source, url, FeedProblem(ErrorKind.PARSE_ERROR, str(error)))
        records += page.records
        asked += PAGE_ROWS
        # A short page is the last: Crossref says so, and asking on gives an empty one.
        if not page.next_cursor or asked >= page.total_results or len(records) >= journal.cap:
            return _Works(records, page.total_results, result)
        cursor = page.next_cursor


async def harvest(fetcher: Fetcher, source: SourcePlan) -> Harvest:
    """New works of the source's journal (or filter) since its last harvest."""
    try:
        journal = _Journal.of(source)
    except OptionError as error:
        return sources.failed(source, source.url, FeedProblem(ErrorKind.PARSE_ERROR, str(error)))
    until = harvests.today()
    since = harvests.window_start(source.harvested_until, journal.first_days, until)
    works = await _read_works(fetcher, source, journal, since)
    if isinstance(works, Harvest):
        return works
    warning = None
    if works.total > journal.cap and len(works.records) >= journal.cap:
        warning = harvests.capped_warning(SERVICE, works.total, journal.cap)
    entries = [_entry(record) for record in works.records[: journal.cap]]
    return harvests.harvested(works.last, entries, until, warning)
