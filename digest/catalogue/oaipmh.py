"""Harvesting a library catalogue over OAI-PMH (Koha, say): its new and changed records become
items with their citations, as a MARC file's records do.

Each harvest asks ListRecords for the records changed since the last one (`from`, at the
repository's granularity from Identify), follows resumption tokens page by page, skips
deleted records, and keeps the first page's responseDate as where the next starts.
`noRecordsMatch` is a repository's way of saying nothing is new, not a failure.

The OAI-PMH clients for Python (Sickle, its maintained fork oaipmh-scythe, pyoai) each make
their own blocking HTTP requests, with requests or their own httpx client; none can send them
through the guarded fetcher, which keeps polls off private networks, bounds every response and
classifies failures into the sentences feeds get. So the fetcher asks, and the few elements
of the protocol are read here, with lxml set never to resolve an entity or fetch a DTD.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode, urlsplit

from lxml import etree

from digest.catalogue.dublincore import dc_record
from digest.catalogue.importer import record_entry
from digest.catalogue.marc import MARCXML_NS, record_from_xml
from digest.catalogue.marcfields import marc_record
from digest.catalogue.records import CatalogueRecord
from digest.ingest import dedup
from digest.ingest.errors import ErrorKind, FeedProblem
from digest.ingest.fetch import Fetcher, FetchResult, FetchStatus
from digest.ingest.parse import ParsedEntry, ParsedFeed
from digest.ingest.sources import Harvest, SourcePlan
from digest.ingest.urls import reader_link

OAI_NS = "http://www.openarchives.org/OAI/2.0/"
ACCEPT = "text/xml, application/xml;q=0.9, */*;q=0.5"
DEFAULT_PREFIX = "marc21"  # Koha serves marc21 and oai_dc; MARC says more
MAX_PAGES = 1000  # a repository whose tokens never end is stopped here
MAX_LISTED = 3  # bad records named in the warning; the others are counted
_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_pis=True
)


class OaiError(Exception):
    """The repository's answer is not what OAI-PMH promises; the message says how."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.problem = FeedProblem(kind, message)


@dataclass
class Page:
    response_date: str | None
    records: list[tuple[str, etree._Element | None]]  # identifier, metadata (None: deleted)
    token: str | None
    no_records: bool = False


@dataclass
class _Gathered:
    entries: list[ParsedEntry] = field(default_factory=list)
    bad: list[str] = field(default_factory=list)  # "identifier: reason"
    deleted: int = 0
    cut_short: bool = False


def _q(name: str) -> str:
    return f"{{{OAI_NS}}}{name}"


# Control characters XML 1.0 forbids, raw or as references: library systems let them into
# records (pasted from old catalogues), and one would make the whole page, and every later
# harvest from it, unreadable. They are dropped; the records keep the rest of their text.
_FORBIDDEN_BYTES = bytes([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20)])
_FORBIDDEN_REFERENCE = re.compile(
    rb"&#(?:0*(?:[0-8]|1[1-2]|1[4-9]|2[0-9]|3[01])|[xX]0*(?:[0-8]|[bBcC]|[eEfF]|1[0-9a-fA-F]));"
)


def _read(body: bytes, verb: str) -> etree._Element:
    """The response's root, or OaiError for XML that is broken or is not OAI-PMH."""
    body = _FORBIDDEN_REFERENCE.sub(b"", body.translate(None, _FORBIDDEN_BYTES))
    try:
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise OaiError(
            ErrorKind.PARSE_ERROR, f"The catalogue's answer to {verb} is not well-formed XML: {exc}"
        ) from None
    if root.tag != _q("OAI-PMH"):
        raise OaiError(
            ErrorKind.NOT_A_FEED,
            f"The address did not answer {verb} as an OAI-PMH repository does. Check that it "
            "is the repository's base URL (for Koha, …/cgi-bin/koha/oai.pl).",
        )
    return root


def _errors(root: etree._Element) -> list[tuple[str, str]]:
    return [(e.get("code", ""), " ".join((e.text or "").split())) for e in root.iter(_q("error"))]


def read_page(body: bytes) -> Page:
    """One ListRecords response; OaiError for an error other than noRecordsMatch."""
    root = _read(body, "ListRecords")
    response_date = (root.findtext(_q("responseDate")) or "").strip() or None
    errors = _errors(root)
    if any(code == "noRecordsMatch" for code, _ in errors):
        return Page(response_date, [], None, no_records=True)
    if errors:
        code, text = errors[0]
        raise OaiError(ErrorKind.NOT_A_FEED, _error_words(code, text))
    listing = root.find(_q("ListRecords"))
    if listing is None:
        raise OaiError(ErrorKind.PARSE_ERROR, "The catalogue's answer has no list of records.")
    records: list[tuple[str, etree._Element | None]] = []
    for record in listing.iterchildren(_q("record")):
        header = record.find(_q("header"))
        identifier = header.findtext(_q("identifier")) if header is not None else None
        metadata = record.find(_q("metadata"))
        if header is not None and header.get("status") == "deleted":
            metadata = None
        elif metadata is None:
            raise OaiError(ErrorKind.PARSE_ERROR, f"Record {identifier or '?'} has no metadata.")
        records.append(((identifier or "").strip(), metadata))
    token = (listing.findtext(_q("resumptionToken")) or "").strip() or None
    return Page(response_date, records, token)


def _error_words(code: str, text: str) -> str:
    said = f" It said: “{text}”" if text else ""
    words = {
        "cannotDisseminateFormat": "The catalogue does not offer records in the metadata "
        "format asked for; set options.metadata_prefix to one it offers (Koha: marc21 or "
        "oai_dc).",
        "noSetHierarchy": "The catalogue has no sets, so the query (a set) cannot be used.",
        "badResumptionToken": "The catalogue refused to go on to its next page of records "
        "(its resumption token had expired or was not valid); the harvest will start again.",
        "badArgument": "The catalogue refused the request as malformed (OAI-PMH badArgument).",
        "badVerb": "The address answered that it does not know the ListRecords request; it may "
        "not be an OAI-PMH repository.",
    }
    return words.get(code, f"The catalogue answered with the OAI-PMH error {code!r}.") + said


def granularity(body: bytes) -> str:
    """The datestamp form the repository takes in `from`: YYYY-MM-DD or the full one."""
    root = _read(body, "Identify")
    found = (root.findtext(f"{_q('Identify')}/{_q('granularity')}") or "").strip()
    return found or "YYYY-MM-DD"


def since(harvested_until: str, repository_granularity: str) -> str:
    """The `from` for a harvest after one that got to `harvested_until`."""
    if repository_granularity.startswith("YYYY-MM-DDThh"):
        return harvested_until
    return harvested_until[:10]


def catalogue_record(metadata: etree._Element, prefix: str) -> CatalogueRecord:
    """The record in a <metadata> element; ValueError naming what is wrong."""
    if prefix == "oai_dc":
        return dc_record(metadata)
    element = next(metadata.iter(f"{{{MARCXML_NS}}}record"), None)
    if element is None:
        raise ValueError("it holds no MARCXML record")
    return marc_record(record_from_xml(element))


def oai_entry(record: CatalogueRecord, identifier: str, source: SourcePlan) -> ParsedEntry:
    """The item a harvested record makes: as a file import's (same ISBN, same item), known by
    its OAI identifier when it has no ISBN, and linked to the catalogue's page for it when the
    source says how (options.record_url, with {id})."""
    template = source.options.get("record_url")
    if record.url is None and template and identifier:
        number = quote(identifier.rpartition(":")[2], safe="")
        record.url = reader_link(template.replace("{id}", number))
    entry = record_entry(record)
    if record.isbn or not identifier:
        return entry
    return dataclasses.replace(
        entry,
        guid=identifier,
        entry_key=dedup.entry_key(identifier, entry.canonical_url, entry.content_hash),
    )


def _gather(page: Page, prefix: str, source: SourcePlan, gathered: _Gathered) -> None:
    for identifier, metadata in page.records:
        if metadata is None:
            gathered.deleted += 1
            continue
        if len(gathered.entries) >= source.settings.max_entries:
            gathered.cut_short = True
            return
        try:
            record = catalogue_record(metadata, prefix)
        except ValueError as exc:
            gathered.bad.append(f"{identifier or 'a record'}: {exc}")
            continue
        gathered.entries.append(oai_entry(record, identifier, source))


def _url(base: str, params: dict[str, str]) -> str:
    return f"{base}{'&' if '?' in base else '?'}{urlencode(params)}"


async def _fetch(fetcher: Fetcher, source: SourcePlan, params: dict[str, str]) -> FetchResult:
    """One request to the repository. A permanent redirect moves the base URL (the feed's
    address), not the request with its verb."""
    result = await fetcher.fetch(source.request(_url(source.url, params), ACCEPT))
    if result.moved_to:
        moved = urlsplit(result.moved_to)
        result.moved_to = None if "?" in source.url else moved._replace(query="").geturl()
    return result


def _warning(gathered: _Gathered, limit: int) -> FeedProblem | None:
    said = []
    if gathered.cut_short:
        said.append(
            f"The catalogue had more new records than the {limit:,} Digest reads in a "
            "harvest; the others were left out. To start from a later date, set options.from."
        )
    if gathered.bad:
        named = "; ".join(gathered.bad[:MAX_LISTED])
        more = len(gathered.bad) - MAX_LISTED
        records = "record" if len(gathered.bad) == 1 else "records"
        said.append(
            f"{len(gathered.bad):,} {records} could not be read: {named}"
            + (f"; and {more:,} more" if more > 0 else "")
            + "."
        )
    return FeedProblem(ErrorKind.WARNING, " ".join(said)) if said else None


async def harvest(fetcher: Fetcher, source: SourcePlan) -> Harvest:
    """The records changed in the repository since the last harvest, as entries."""
    prefix = source.options.get("metadata_prefix", DEFAULT_PREFIX)
    params = {"verb": "ListRecords", "metadataPrefix": prefix}
    if source.query:
        params["set"] = source.query
    if start := source.harvested_until or source.options.get("from"):
        identify = await _fetch(fetcher, source, {"verb": "Identify"})
        if identify.status is not FetchStatus.FETCHED:
            return Harvest(identify, None)
        try:
            params["from"] = since(start, granularity(identify.body))
        except OaiError as exc:
            return _failed(identify, exc)
    return await _list_records(fetcher, source, params, prefix)


async def _list_records(
    fetcher: Fetcher, source: SourcePlan, params: dict[str, str], prefix: str
) -> Harvest:
    """Every page of a ListRecords, gathered; the first problem fails the whole harvest, so
    that the next starts from the same place."""
    gathered, until, seen = _Gathered(), None, set()
    for _ in range(MAX_PAGES):
        result = await _fetch(fetcher, source, params)
        if result.status is not FetchStatus.FETCHED:
            return Harvest(result, None)
        try:
            page = read_page(result.body)
        except OaiError as exc:
            return _failed(result, exc)
        result.body = b""
        until = until or page.response_date
        _gather(page, prefix, source, gathered)
        if not page.token or gathered.cut_short:
            problem = _warning(gathered, source.settings.max_entries)
            parsed = ParsedFeed(entries=gathered.entries, problem=problem, harvested_until=until)
            return Harvest(result, parsed)
        if page.token in seen:
            break
        seen.add(page.token)
        params = {"verb": "ListRecords", "resumptionToken": page.token}
    return _failed(result, OaiError(ErrorKind.PARSE_ERROR, _LOOPING))


_LOOPING = (
    f"The catalogue kept sending more pages of records (its resumption tokens repeat, or go "
    f"past {MAX_PAGES:,} pages); the harvest was stopped and will start again."
)


def _failed(result: FetchResult, error: OaiError) -> Harvest:
    result.body = b""
    return Harvest(result, ParsedFeed(problem=error.problem))
