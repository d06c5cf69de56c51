"""Asking Crossref about DOIs and PubMed about PMIDs through the guarded fetcher, at each
service's pace, with its polite contact; each identifier's answer is found (with its record),
not found, worth asking again later, or refused for good, with the reason in plain words."""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from digest.ingest.errors import ErrorKind, FeedProblem
from digest.ingest.fetch import Fetcher, FetchRequest, FetchResult, FetchSettings, FetchStatus
from digest.research import crossref, pubmed
from digest.research.ratelimit import Pace
from digest.settings import Settings

CROSSREF, PUBMED = "crossref", "pubmed"
SERVICE_NAMES = {CROSSREF: "Crossref", PUBMED: "PubMed"}


def service_for(doi: str | None, pmid: str | None) -> tuple[str, str | None]:
    """Where an item is looked up, and by what: its DOI at Crossref, else its PMID at
    PubMed (the identifier None when it has neither)."""
    return (CROSSREF, doi) if doi else (PUBMED, pmid)
# NCBI asks for ids in batches of at most 200 on a GET (E-utilities' usage guidelines).
PUBMED_BATCH = 200
# A pause the service asks for up to this long is waited out in the same run; a longer one
# is left to the next run, when the item is due again.
WAIT_IN_RUN_SECONDS = 30
TRIES_IN_RUN = 3
TOOL_NAME = "digest"
# Refusals that asking again will not change.
_FINAL_KINDS = frozenset({ErrorKind.BLOCKED_ADDRESS, ErrorKind.TOO_LARGE})
_UNREACHABLE = {
    ErrorKind.DNS: "its server's name could not be found",
    ErrorKind.CONNECT: "the connection failed",
    ErrorKind.TLS: "the secure connection failed",
    ErrorKind.TOO_MANY_REDIRECTS: "it redirected too many times",
    ErrorKind.BLOCKED_ADDRESS: "its address is on a private network",
    ErrorKind.TOO_LARGE: "its answer was too large to read",
}


class Outcome(enum.StrEnum):
    FOUND = "found"
    NOT_FOUND = "not_found"
    RETRY = "retry"  # a passing failure: ask again later
    FAILED = "failed"  # a refusal asking again will not change


@dataclass(frozen=True)
class Answer:
    """What a service said about one identifier."""

    outcome: Outcome
    record: dict[str, Any] | None = None
    reason: str = ""  # a sentence for the item page when not found
    retry_after: int | None = None  # seconds the service asked us to wait


@dataclass(frozen=True)
class ResearchSettings:
    """Where the services are, how fast and as whom to ask them."""

    crossref_url: str = "https://api.crossref.org"
    pubmed_url: str = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils"
    contact: str | None = None
    ncbi_api_key: str | None = field(default=None, repr=False)
    crossref_rate: float = 5
    crossref_concurrency: int = 1
    pubmed_rate: float = 3
    allow_private_network: bool = False
    fetch: FetchSettings = field(default_factory=FetchSettings)

    @classmethod
    def from_settings(
        cls, settings: Settings, fetch: FetchSettings | None = None
    ) -> ResearchSettings:
        return cls(
            crossref_url=settings.crossref_url,
            pubmed_url=settings.pubmed_url,
            contact=settings.research_contact,
            ncbi_api_key=settings.ncbi_api_key,
            crossref_rate=settings.crossref_rate,
            crossref_concurrency=settings.crossref_concurrency,
            pubmed_rate=settings.pubmed_rate,
            allow_private_network=settings.research_private_network,
            fetch=fetch or FetchSettings(),
        )


def failure(service: str, result: FetchResult, timeout: float) -> Answer:
    """The answer for a response that is not the record: a sentence saying what went wrong,
    and whether to ask again."""
    name = SERVICE_NAMES[service]
    problem = result.problem or FeedProblem(ErrorKind.CONNECT, "")
    status = problem.http_status
    if problem.kind == ErrorKind.TIMEOUT:
        reason = f"{name} could not be reached (no answer within {timeout:g} seconds)."
    elif problem.kind in _UNREACHABLE:
        reason = f"{name} could not be reached ({_UNREACHABLE[problem.kind]})."
    elif status == 429:
        reason = f"{name} asked Digest to slow down (429 Too Many Requests)."
    elif status == 503:
        reason = f"{name} was unavailable for a while (503 Service Unavailable)."
    elif status is not None and status >= 500:
        reason = f"{name} had a problem of its own ({status})."
    elif status is not None:
        reason = f"{name} refused the request ({status})."
        final = status not in (408, 425)
        return Answer(Outcome.FAILED if final else Outcome.RETRY, reason=reason)
    else:
        reason = f"{name} could not be reached ({problem.message})."
    outcome = Outcome.FAILED if problem.kind in _FINAL_KINDS else Outcome.RETRY
    return Answer(outcome, reason=reason, retry_after=result.retry_after_seconds)


class _Service:
    """One service's fetcher, pace and concurrency for one run."""

    def __init__(self, name: str, settings: ResearchSettings, rate: float, concurrency: int):
        self.name, self.settings = name, settings
        self.pace = Pace(rate)
        self.slots = asyncio.Semaphore(concurrency)
        self.fetch_settings = FetchSettings(
            connect_timeout=settings.fetch.connect_timeout,
            total_timeout=settings.fetch.total_timeout,
            max_body_bytes=settings.fetch.max_body_bytes,
            max_concurrency=concurrency,
            per_host_concurrency=concurrency,
        )

    async def get(self, fetcher: Fetcher, url: str, accept: str) -> FetchResult:
        """The response, after waiting out short pauses the service asks for."""
        request = FetchRequest(
            0, url, allow_private_network=self.settings.allow_private_network, accept=accept
        )
        for attempt in range(TRIES_IN_RUN):
            async with self.slots:
                await self.pace.wait()
                result = await fetcher.fetch(request)
            self.pace.advertised(result.headers)
            problem = result.problem
            if problem is None or problem.kind != ErrorKind.RATE_LIMITED:
                return result
            pause = result.retry_after_seconds
            pause = 2**attempt if pause is None else pause
            if pause > WAIT_IN_RUN_SECONDS or attempt == TRIES_IN_RUN - 1:
                return result
            self.pace.hold(pause)  # every request to the service waits, not just this one
        return result


def _crossref_url(settings: ResearchSettings, doi: str) -> str:
    query = f"?{urlencode({'mailto': settings.contact})}" if settings.contact else ""
    return f"{settings.crossref_url.rstrip('/')}/works/{quote(doi, safe='/')}{query}"


def _efetch_url(settings: ResearchSettings, pmids: list[str]) -> str:
    params = {"db": "pubmed", "retmode": "xml", "id": ",".join(pmids), "tool": TOOL_NAME}
    if settings.contact:
        params["email"] = settings.contact
    if settings.ncbi_api_key:
        params["api_key"] = settings.ncbi_api_key
    return f"{settings.pubmed_url.rstrip('/')}/efetch.fcgi?{urlencode(params, safe=',')}"


async def _one_doi(service: _Service, fetcher: Fetcher, doi: str) -> Answer:
    result = await service.get(fetcher, _crossref_url(service.settings, doi), "application/json")
    if result.status == FetchStatus.FAILED:
        if result.problem is not None and result.problem.http_status == 404:
            return Answer(Outcome.NOT_FOUND, reason="Crossref does not know this DOI.")
        return failure(CROSSREF, result, service.fetch_settings.total_timeout)
    try:
        return Answer(Outcome.FOUND, record=crossref.parse_work(result.body))
    except crossref.CrossrefResponseError as error:
        return Answer(Outcome.RETRY, reason=f"Crossref's answer could not be read: {error}")


async def look_up_dois(dois: Iterable[str], settings: ResearchSettings) -> dict[str, Answer]:
    """Crossref's answer for each DOI, asked concurrently within its pace."""
    wanted = sorted(set(dois))
    if not wanted:
        return {}
    service = _Service(CROSSREF, settings, settings.crossref_rate, settings.crossref_concurrency)
    async with Fetcher(service.fetch_settings) as fetcher:
        answers = await asyncio.gather(*(_one_doi(service, fetcher, doi) for doi in wanted))
    return dict(zip(wanted, answers, strict=True))


async def _pmid_batch(service: _Service, fetcher: Fetcher, pmids: list[str]) -> dict[str, Answer]:
    url = _efetch_url(service.settings, pmids)
    result = await service.get(fetcher, url, "application/xml, text/xml")
    if result.status == FetchStatus.FAILED:
        answer = failure(PUBMED, result, service.fetch_settings.total_timeout)
        return dict.fromkeys(pmids, answer)
    try:
        records = pubmed.parse_efetch(result.body)
    except pubmed.PubMedResponseError as error:
        answer = Answer(Outcome.RETRY, reason=f"PubMed's answer could not be read: {error}")
        return dict.fromkeys(pmids, answer)
    missing = Answer(Outcome.NOT_FOUND, reason="PubMed does not know this PMID.")
    return {
        pmid: Answer(Outcome.FOUND, record=records[pmid]) if pmid in records else missing
        for pmid in pmids
    }


async def look_up_pmids(pmids: Iterable[str], settings: ResearchSettings) -> dict[str, Answer]:
    """PubMed's answer for each PMID, asked in batches within its pace; an id that is not a
    PMID is refused without asking."""
    wanted = sorted(set(pmids))
    answers = {
        pmid: Answer(Outcome.FAILED, reason=f"{pmid!r} is not a PMID (PMIDs are digits).")
        for pmid in wanted
        if not pubmed.PMID.match(pmid)
    }
    valid = [pmid for pmid in wanted if pmid not in answers]
    if not valid:
        return answers
    service = _Service(PUBMED, settings, settings.pubmed_rate, 1)
    batches = [valid[i : i + PUBMED_BATCH] for i in range(0, len(valid), PUBMED_BATCH)]
    async with Fetcher(service.fetch_settings) as fetcher:
        for found in await asyncio.gather(*(_pmid_batch(service, fetcher, b) for b in batches)):
            answers.update(found)
    return answers
