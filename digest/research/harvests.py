"""What the PubMed and Crossref harvesters share: the window of dates a harvest asks for, a
source's numeric options, an entry made from a CSL-JSON record, and a harvest's outcome as the
poll takes it (failures said in the service's name)."""

from __future__ import annotations

import asyncio
import html
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from weakref import WeakKeyDictionary

from digest.errors import Invalid
from digest.ingest import summaries
from digest.ingest.errors import ErrorKind, FeedProblem
from digest.ingest.fetch import FetchResult
from digest.ingest.identifiers import normalise_doi
from digest.ingest.parse import ParsedEntry, ParsedFeed
from digest.ingest.sanitize import sanitize_html, sanitized_html_to_text
from digest.ingest.sources import Harvest, SourcePlan
from digest.ingest.urls import canonicalize_url
from digest.research.ratelimit import Pace
from digest.timeutil import utcnow

# A new search or journal brings this many days back, not every paper it ever matched.
FIRST_DAYS = 30
MAX_FIRST_DAYS = 3_650
MAX_DOI_LENGTH = 200  # the items table's column
OVERLAP = timedelta(days=1)  # asked again of the last harvest's window: see `since_date`
# PubMed gives at most the first 10,000 ids of a search (E-utilities' own limit).
MAX_RESULTS_CEILING = 10_000


# One pace a service for each poll: a poll's harvests run in one event loop, together, and a
# pace's lock belongs to the loop it was first awaited in.
_PACES: WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Pace]] = WeakKeyDictionary()


def pace(service: str, rate: float) -> Pace:
    """The pace the running poll's harvests from `service` share, at `rate` requests a second
    (the first harvest to ask sets it)."""
    paces = _PACES.setdefault(asyncio.get_running_loop(), {})
    return paces.setdefault(service, Pace(rate))


_SLOTS: WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Semaphore]] = (
    WeakKeyDictionary()
)


def slots(service: str, at_once: int) -> asyncio.Semaphore:
    """How many requests the running poll's harvests may have open at `service` at once."""
    semaphores = _SLOTS.setdefault(asyncio.get_running_loop(), {})
    return semaphores.setdefault(service, asyncio.Semaphore(at_once))


class OptionError(Invalid):
    """A source's option that cannot be used; the message names it and says what it must be."""


def whole_option(options: dict[str, Any], name: str, default: int, most: int) -> int:
    """The option `name` as a whole number from 1 to `most`, else `default` when not set."""
    raw = options.get(name)
    if raw is None or str(raw).strip() == "":
        return default
    text = str(raw).strip()
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= most:
        raise OptionError(
            f"The option {name} must be a whole number from 1 to {most:,}, not {text[:40]!r}."
        )
    return int(text)


def result_cap(source: SourcePlan) -> int:
    """Records a harvest reads at most: the source's option max_results, else as many as a
    poll reads from a feed (DIGEST_MAX_ENTRIES_PER_FEED). A broad search or a journal's back
    catalogue would otherwise bring thousands of items into one edition's triage."""
    default = min(source.settings.max_entries, MAX_RESULTS_CEILING)
    return whole_option(source.options, "max_results", default, MAX_RESULTS_CEILING)


def today() -> date:
    """Today's date in UTC, the calendar both services keep."""
    return utcnow().date()


def since_date(harvested_until: str | None) -> date | None:
    """The first day a harvest after one that got to `harvested_until` (kept as YYYY-MM-DD)
    asks for, or None when there was none.

    It is the day before: a record added late on a day can reach the service's index after
    midnight (Crossref's lag is some minutes), and PubMed dates its records by the clock of
    Bethesda, hours behind the UTC day Digest keeps. A record asked for twice is "unchanged".
    """
    try:
        last = date.fromisoformat(harvested_until) if harvested_until else None
    except ValueError:
        return None  # not a date this code wrote: harvest as if for the first time
    return last - OVERLAP if last else None


def window_start(harvested_until: str | None, first_days: int, end: date) -> date:
    """The first day to ask for: the day before the last harvest got to, else `first_days`
    before `end`."""
    return since_date(harvested_until) or end - timedelta(days=first_days)


def capped_warning(service: str, found: int, read: int) -> FeedProblem:
    return FeedProblem(
        ErrorKind.WARNING,
        f"{service} found {found:,} new records, and Digest reads {read:,} in a poll; "
        "narrow the query, or raise the option max_results.",
    )


def summary_parts(abstract: str, base: str | None) -> tuple[str, str, str, str]:
    """The whole abstract as sanitised HTML (a paragraph for each of its paragraphs) and as
    text, and the summary cut from it as HTML and as text."""
    paragraphs = [" ".join(p.split()) for p in abstract.split("\n\n")]
    raw = "".join(f"<p>{html.escape(p, quote=False)}</p>" for p in paragraphs if p)
    full_html = sanitize_html(raw, base)
    full_text = sanitized_html_to_text(full_html)
    return full_html, full_text, *summaries.summarised(full_html, full_text)


def author_names(record: dict[str, Any]) -> list[str]:
    """The record's authors as "Family, Given" (or an organisation's name as given)."""
    names = []
    for person in record.get("author") or []:
        if not isinstance(person, dict):
            continue
        family, given = person.get("family") or "", person.get("given") or ""
        name = f"{family}, {given}" if family and given else family or person.get("literal", "")
        if name:
            names.append(name)
    return names


def issued(record: dict[str, Any]) -> tuple[datetime | None, bool]:
    """When the record says the work was published, and whether that is estimated (a month or
    a year without its day)."""
    try:
        parts = [int(part) for part in record["issued"]["date-parts"][0][:3]]
        year, month, day = [*parts, 1, 1][:3]
        return datetime(year, month, day, tzinfo=UTC), len(parts) < 3
    except (KeyError, IndexError, TypeError, ValueError, OverflowError):
        return None, False


def record_doi(record: dict[str, Any]) -> str | None:
    """The record's DOI as the service gave it, lower-case: a DOI may hold what a DOI found
    in running text may not (a SICI's "<" and ">"), and cut short it would name another work.
    One too long to keep (over 200 characters) is left out."""
    doi = " ".join(str(record.get("DOI") or "").split()).lower()
    if not doi.startswith("10.") or "/" not in doi:
        return normalise_doi(doi) if doi else None
    return doi if len(doi) <= MAX_DOI_LENGTH else None


def record_entry(
    record: dict[str, Any], *, link: str, guid: str, identity: str, pmid: str | None = None
) -> ParsedEntry:
    """An entry from a CSL-JSON record, with the record itself kept on it (so no enrichment
    look-up is needed for it later)."""
    abstract = record.get("abstract") or ""
    full_html, full_text, summary_html, summary_text = summary_parts(abstract, link)
    title = " ".join(str(record.get("title") or "").split()) or summary_text[:120] or link
    published, estimated = issued(record)
    if published is not None and published > utcnow():
        # An issue still to come: readers are told when Digest found it (the poll's time,
        # marked estimated), and the record keeps the date for citing.
        published = None
    return ParsedEntry.keyed(
        title=title,
        guid=guid,
        link=link,
        canonical_url=canonicalize_url(link),
        summary_html=summary_html,
        summary_text=summary_text,
        authors=author_names(record),
        published=published,
        hashed_text=full_text,
        identity=identity,
        full_text_html=full_html,
        published_estimated=estimated,
        doi=record_doi(record),
        publisher=record.get("container-title") or None,
        pmid=pmid,
        csl=record,
    )


def harvested(
    last: FetchResult,
    entries: list[ParsedEntry],
    until: date,
    warning: FeedProblem | None = None,
) -> Harvest:
    """A harvest that got to `until`. The result given to the poll is the last response's,
    stripped of what belongs to a feed's address: a redirect of one request is no new address
    for the source, and its validators and body are nothing to keep."""
    result = replace(
        last,
        final_url=last.request.url,
        body=b"",
        body_hash=None,
        etag=None,
        last_modified=None,
        moved_to=None,
        max_age_seconds=None,
    )
    parsed = ParsedFeed(entries=entries, problem=warning, harvested_until=until.isoformat())
    return Harvest(result, parsed)


def joined(*warnings: FeedProblem | None) -> FeedProblem | None:
    """The warnings said together, or None when there are none."""
    said = [w.message for w in warnings if w is not None]
    return FeedProblem(ErrorKind.WARNING, " ".join(said)) if said else None
