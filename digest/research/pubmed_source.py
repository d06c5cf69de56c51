"""A PubMed search polled as a source: the PMIDs the search gained since the last harvest
(by Entrez date, the day PubMed added the record), found with `esearch` and read in batches
with `efetch`, each becoming an item with its structured record."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any
from urllib.parse import urlencode

from digest.ingest import sources
from digest.ingest.errors import ErrorKind, FeedProblem
from digest.ingest.fetch import Fetcher, FetchResult, FetchStatus
from digest.ingest.parse import ParsedEntry
from digest.ingest.sources import Harvest, SourcePlan
from digest.research import harvests
from digest.research.harvests import OptionError
from digest.research.pubmed import PUBMED_URL, PubMedResponseError, parse_efetch

SERVICE = "PubMed"
TOOL = "digest"  # how NCBI's E-utilities name this program in their logs (`tool=`)
# Ids an esearch page lists (E-utilities allow 10,000) and a batch of efetch asks for (NCBI
# asks for POST above about 200, as a longer address may be cut).
SEARCH_PAGE = 500
FETCH_BATCH = 200
SEARCH_ACCEPT = "application/json"
FETCH_ACCEPT = "application/xml, text/xml;q=0.9"
# NCBI's limits on E-utilities requests: 3 a second from one caller, 10 with an API key.
RATE, KEYED_RATE = 3, 10


@dataclass
class SearchAnswer:
    """One esearch page: its PMIDs, how many the search matches, and the words PubMed left
    out of it because it knows none of their records."""

    ids: list[str]
    count: int
    unknown: list[str] = field(default_factory=list)


def ncbi_date(day: date) -> str:
    return day.strftime("%Y/%m/%d")


def search_url(
    base: str,
    query: str,
    since: date | None,
    until: date,
    first_days: int,
    start: int,
    identity: dict[str, str],
) -> str:
    """An esearch page of the PMIDs `query` matches that PubMed added from `since` to `until`
    (or in the last `first_days` days, for a search never harvested)."""
    params: dict[str, str] = {
        "db": "pubmed",
        "term": query,
        "retmode": "json",
        "retmax": str(SEARCH_PAGE),
        "retstart": str(start),
        "datetype": "edat",
    }
    if since is None:
        params["reldate"] = str(first_days)
    else:
        params["mindate"], params["maxdate"] = ncbi_date(since), ncbi_date(until)
    return f"{base.rstrip('/')}/esearch.fcgi?{urlencode({**params, **identity})}"


def fetch_url(base: str, pmids: list[str], identity: dict[str, str]) -> str:
    params = {"db": "pubmed", "id": ",".join(pmids), "retmode": "xml", **identity}
    return f"{base.rstrip('/')}/efetch.fcgi?{urlencode(params)}"


def read_search(body: bytes) -> SearchAnswer:
    """The PMIDs and count of an esearch JSON answer; PubMedResponseError for an answer that
    is not one, or that says the search failed."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise PubMedResponseError(f"PubMed's search answer is not JSON ({error}).") from None
    result = data.get("esearchresult") if isinstance(data, dict) else None
    if not isinstance(result, dict):
        error = data.get("error") if isinstance(data, dict) else None
        said = f": {error}" if isinstance(error, str) else " (it has no esearchresult)"
        raise PubMedResponseError(f"PubMed's search answer is not a search result{said}.")
    if result.get("ERROR"):
        said = str(result["ERROR"]).strip().rstrip(".")
        raise PubMedResponseError(f"PubMed refused the search: {said}.")
    ids, count = result.get("idlist"), str(result.get("count", ""))
    if not isinstance(ids, list) or not (count.isascii() and count.isdigit()):
        raise PubMedResponseError("PubMed's search answer has no id list or count.")
    errors = result.get("errorlist") if isinstance(result.get("errorlist"), dict) else {}
    unknown = [str(p) for p in errors.get("phrasesnotfound") or [] if str(p).strip()]
    unknown += [f"[{f}]" for f in errors.get("fieldsnotfound") or [] if str(f).strip()]
    return SearchAnswer(
        [str(i) for i in ids if str(i).isascii() and str(i).isdigit()], int(count), unknown
    )


def _service_problem(result: FetchResult, base: str) -> FetchResult:
    """A failed response's problem said as PubMed's: a 404 means the source's address is not
    the E-utilities', not that a feed moved."""
    problem = result.problem
    if problem is None or problem.http_status != 404:
        return result
    words = (
        f"PubMed's E-utilities were not found at {base} (404 Not Found). Their address is "
        "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/."
    )
    return replace(result, problem=FeedProblem(problem.kind, words, problem.http_status))


def _entry(record: dict[str, Any]) -> ParsedEntry:
    pmid = record["PMID"]
    return harvests.record_entry(
        record,
        link=PUBMED_URL.format(pmid=pmid),
        guid=f"pubmed:{pmid}",
        identity=f"pmid:{pmid}",
        pmid=pmid,
    )


def _warning(unknown: list[str], found: int, cap: int) -> FeedProblem | None:
    """What a librarian should know of the search itself: words PubMed ignored, a cap met."""
    ignored = None
    if unknown:
        words = ", ".join(f"“{word}”" for word in unknown)
        said = f"PubMed knows no records for {words}, so it searched without them."
        ignored = FeedProblem(ErrorKind.WARNING, said)
    capped = harvests.capped_warning(SERVICE, found, cap) if found > cap else None
    return harvests.joined(ignored, capped)


@dataclass(frozen=True)
class _Search:
    """A source's search as a harvest asks it: the query, the first run's days, the cap, and
    who asks (NCBI asks callers to name their program and a contact address)."""

    query: str
    first_days: int
    cap: int
    identity: dict[str, str]

    @classmethod
    def of(cls, source: SourcePlan) -> _Search:
        """The source's search; OptionError naming what cannot be used."""
        query = (source.query or "").strip()
        if not query:
            raise OptionError("The source has no query: give the PubMed search to follow.")
        first_days = harvests.whole_option(
            source.options, "first_days", harvests.FIRST_DAYS, harvests.MAX_FIRST_DAYS
        )
        cap = harvests.result_cap(source)
        identity = {"tool": TOOL}
        if contact := source.options.get("contact") or source.access.get("contact"):
            identity["email"] = str(contact)
        if key := source.access.get("api_key"):
            identity["api_key"] = str(key)
        return cls(query, first_days, cap, identity)


class _Stopped(Exception):
    """A request of the harvest failed; `harvest` is what the poll is given."""

    def __init__(self, harvest: Harvest) -> None:
        self.harvest = harvest


class _Harvesting:
    """One harvest's requests, each at NCBI's pace; the first that fails stops the harvest
    (raising _Stopped), so that a run stores all it found or nothing, and its window is asked
    again next time."""

    def __init__(self, fetcher: Fetcher, source: SourcePlan, search: _Search) -> None:
        self.fetcher, self.source, self.search = fetcher, source, search
        rate = KEYED_RATE if "api_key" in search.identity else RATE
        self.pace = harvests.pace(SERVICE, rate)
        self.last: FetchResult | None = None

    async def _get(self, url: str, accept: str) -> FetchResult:
        await self.pace.wait()
        result = await self.fetcher.fetch(self.source.request(url, accept))
        if result.status is not FetchStatus.FETCHED:
            raise _Stopped(Harvest(_service_problem(result, self.source.url), None))
        self.last = result
        return result

    def _unreadable(self, url: str, error: Exception) -> _Stopped:
        problem = FeedProblem(ErrorKind.PARSE_ERROR, str(error))
        return _Stopped(sources.failed(self.source, url, problem))

    async def pmids(self, since: date | None, until: date) -> SearchAnswer:
        """Every PMID the search gained in the window, up to the cap, newest first (esearch's
        order for PubMed)."""
        search, pmids, seen = self.search, [], set()
        while True:
            url = search_url(
                self.source.url,
                search.query,
                since,
                until,
                search.first_days,
                len(pmids),
                search.identity,
            )
            result = await self._get(url, SEARCH_ACCEPT)
            try:
                page = read_search(result.body)
            except PubMedResponseError as error:
                raise self._unreadable(url, error) from None
            new = [pmid for pmid in page.ids if pmid not in seen]
            pmids += new
            seen.update(new)
            # A page with nothing new ends it too: a service that ignored retstart would
            # otherwise be asked for the same page for ever.
            if not new or len(pmids) >= min(page.count, search.cap):
                return SearchAnswer(pmids[: search.cap], page.count, page.unknown)

    async def records(self, pmids: list[str]) -> list[dict[str, Any]]:
        """The records of `pmids`, read in batches, in their order."""
        found: list[dict[str, Any]] = []
        for start in range(0, len(pmids), FETCH_BATCH):
            batch = pmids[start : start + FETCH_BATCH]
            url = fetch_url(self.source.url, batch, self.search.identity)
            result = await self._get(url, FETCH_ACCEPT)
            try:
                records = parse_efetch(result.body)
            except PubMedResponseError as error:
                raise self._unreadable(url, error) from None
            # A PMID efetch leaves out was withdrawn since the search, or is a book: skipped.
            found += [records[pmid] for pmid in batch if pmid in records]
        return found


async def harvest(fetcher: Fetcher, source: SourcePlan) -> Harvest:
    """The records the source's PubMed search gained since its last harvest."""
    try:
        search = _Search.of(source)
    except OptionError as error:
        return sources.failed(source, source.url, FeedProblem(ErrorKind.PARSE_ERROR, str(error)))
    until = harvests.today()
    run = _Harvesting(fetcher, source, search)
    try:
        found = await run.pmids(harvests.since_date(source.harvested_until), until)
        records = await run.records(found.ids)
    except _Stopped as stopped:
        return stopped.harvest
    assert run.last is not None  # the search was asked, and answered
    entries = [_entry(record) for record in records]
    warning = _warning(found.unknown, found.count, search.cap)
    return harvests.harvested(run.last, entries, until, warning)
