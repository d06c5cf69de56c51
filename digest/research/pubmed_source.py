"""A PubMed search polled as a source: the PMIDs the search gained since the last harvest
(by Entrez date, the day PubMed added the record), found with `esearch` and read in batches
with `efetch`, each becoming an item with its structured record."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any
from urllib.parse import urlencode

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
        raise PubMedResponseError(f"PubMed refused the search: {result['ERROR']}.")
    ids, count = result.get("idlist"), str(result.get("count", ""))
    if not isinstance(ids, list) or not count.isdigit():
        raise PubMedResponseError("PubMed's search answer has no id list or count.")
    errors = result.get("errorlist") if isinstance(result.get("errorlist"), dict) else {}
    unknown = [str(p) for p in errors.get("phrasesnotfound") or [] if str(p).strip()]
    unknown += [f"[{f}]" for f in errors.get("fieldsnotfound") or [] if str(f).strip()]
    return SearchAnswer([str(i) for i in ids if str(i).isdigit()], int(count), unknown)


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


def _entry(pmid: str, record: dict[str, Any]) -> ParsedEntry:
    return harvests.record_entry(
        record,
        link=PUBMED_URL.format(pmid=pmid),
        guid=f"pubmed:{pmid}",
        identity=f"pmid:{pmid}",
        pmid=pmid,
    )


def _warning(unknown: list[str], found: int, cap: int) -> FeedProblem | None:
    said = []
    if unknown:
        words = ", ".join(f"“{word}”" for word in unknown)
        said.append(f"PubMed knows no records for {words}, so it searched without them.")
    if found > cap:
        said.append(harvests.capped_warning(SERVICE, found, cap).message)
    return FeedProblem(ErrorKind.WARNING, " ".join(said)) if said else None


class _Stopped(Exception):
    """A request of the harvest failed; `harvest` is what the poll is given."""

    def __init__(self, harvest: Harvest) -> None:
        self.harvest = harvest


async def _get(fetcher: Fetcher, source: SourcePlan, url: str, accept: str) -> FetchResult:
    result = await fetcher.fetch(source.request(url, accept))
    if result.status is not FetchStatus.FETCHED:
        raise _Stopped(Harvest(_service_problem(result, source.url), None))
    return result


def _unreadable(source: SourcePlan, url: str, error: Exception) -> _Stopped:
    return _Stopped(harvests.failed(source, url, FeedProblem(ErrorKind.PARSE_ERROR, str(error))))


async def _search(
    fetcher: Fetcher, source: SourcePlan, since: date | None, until: date, settings: _Settings
) -> tuple[SearchAnswer, FetchResult]:
    """Every PMID the search gained in the window, up to the cap, newest first (esearch's
    order for PubMed), and the last response."""
    pmids: list[str] = []
    while True:
        url = search_url(
            source.url,
            settings.query,
            since,
            until,
            settings.first_days,
            len(pmids),
            settings.identity,
        )
        result = await _get(fetcher, source, url, SEARCH_ACCEPT)
        try:
            page = read_search(result.body)
        except PubMedResponseError as error:
            raise _unreadable(source, url, error) from None
        pmids += [pmid for pmid in page.ids if pmid not in pmids]
        if not page.ids or len(pmids) >= min(page.count, settings.cap):
            return SearchAnswer(pmids[: settings.cap], page.count, page.unknown), result


@dataclass(frozen=True)
class _Settings:
    query: str
    first_days: int
    cap: int
    identity: dict[str, str]


def _settings(source: SourcePlan) -> _Settings:
    """The source's query and options; OptionError naming what cannot be used."""
    query = (source.query or "").strip()
    if not query:
        raise OptionError("The source has no query: give the PubMed search to follow.")
    first_days = harvests.whole_option(
        source.options, "first_days", harvests.FIRST_DAYS, harvests.MAX_FIRST_DAYS
    )
    cap = harvests.whole_option(
        source.options, "max_results", harvests.MAX_RESULTS, harvests.MAX_RESULTS_CEILING
    )
    identity = {"tool": TOOL}
    for name in ("email", "api_key"):
        if source.options.get(name):
            identity[name] = str(source.options[name])
    return _Settings(query, first_days, cap, identity)


async def harvest(fetcher: Fetcher, source: SourcePlan) -> Harvest:
    """The records the source's PubMed search gained since its last harvest."""
    try:
        settings = _settings(source)
    except OptionError as error:
        return harvests.failed(source, source.url, FeedProblem(ErrorKind.PARSE_ERROR, str(error)))
    until = harvests.today()
    since = harvests.since_date(source.harvested_until)
    try:
        found, last = await _search(fetcher, source, since, until, settings)
        entries: list[ParsedEntry] = []
        for start in range(0, len(found.ids), FETCH_BATCH):
            batch = found.ids[start : start + FETCH_BATCH]
            url = fetch_url(source.url, batch, settings.identity)
            last = await _get(fetcher, source, url, FETCH_ACCEPT)
            try:
                records = parse_efetch(last.body)
            except PubMedResponseError as error:
                raise _unreadable(source, url, error) from None
            # A PMID efetch leaves out was withdrawn since the search, or is a book: skipped.
            entries += [_entry(pmid, records[pmid]) for pmid in batch if pmid in records]
    except _Stopped as stopped:
        return stopped.harvest
    warning = _warning(found.unknown, found.count, settings.cap)
    return harvests.harvested(last, entries, until, warning)
