"""Items added by hand: from a web page's own description of itself, or typed in."""

from __future__ import annotations

import asyncio
import html
from dataclasses import dataclass, field, replace
from datetime import datetime
from html.parser import HTMLParser

from sqlalchemy import select
from sqlalchemy.orm import Session

from digest import audit
from digest.curation.wording import text_to_html
from digest.db import lock_for_writing
from digest.errors import Invalid
from digest.ingest import dedup
from digest.ingest.fetch import Fetcher, FetchRequest, FetchStatus
from digest.ingest.identifiers import Identifiers, identify
from digest.ingest.parse import ParsedEntry
from digest.ingest.sanitize import html_to_text
from digest.ingest.store import feed_entries, store_entries
from digest.ingest.urls import canonicalize_url, check_reader_link, reader_link
from digest.models import Feed, FeedKind, Item, Section
from digest.timeutil import utcnow

MANUAL_FEED = "Added by hand"
NO_IDENTIFIERS = Identifiers()


class ManualItemError(Invalid):
    """The item cannot be added; the message says why."""


@dataclass
class PageDescription:
    """What a web page says about itself in its metadata."""

    url: str
    title: str = ""
    summary: str = ""
    authors: list[str] = field(default_factory=list)
    published: datetime | None = None
    doi: str | None = None
    pmid: str | None = None
    isbn: str | None = None


# Meta tags naming the page's publication, as Highwire/Google Scholar, PRISM and Dublin Core
# write them, each with the prefix that tells `ingest.identifiers` what a bare value is.
_IDENTIFIER_TAGS = {
    "citation_doi": "doi:",
    "bepress_citation_doi": "doi:",
    "prism.doi": "doi:",
    "dc.identifier": "",
    "citation_pmid": "pmid:",
    "citation_isbn": "isbn:",
}


class _MetadataParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.meta: dict[str, str] = {}
        self.identifiers: list[str] = []  # every identifier tag's value, with its prefix
        self.canonical: str | None = None
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k.lower(): v or "" for k, v in attrs}
        if tag == "meta":
            key = (values.get("property") or values.get("name") or "").lower()
            if key and values.get("content") and key not in self.meta:
                self.meta[key] = values["content"]
            if key in _IDENTIFIER_TAGS and values.get("content"):
                self.identifiers.append(_IDENTIFIER_TAGS[key] + values["content"].strip())
        elif tag == "link" and "canonical" in values.get("rel", "").lower():
            self.canonical = values.get("href") or None
        elif tag == "title":
            self._in_title = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data


def describe_page(body: bytes, url: str) -> PageDescription:
    """Title, description, authors and date from Open Graph, Twitter and plain meta tags."""
    parser = _MetadataParser()
    parser.feed(body[:500_000].decode("utf-8", "replace"))
    meta = parser.meta
    first = next
    title = first(
        (meta[k] for k in ("og:title", "twitter:title", "citation_title") if meta.get(k)),
        parser.title,
    )
    summary = first(
        (meta[k] for k in ("og:description", "description", "twitter:description") if meta.get(k)),
        "",
    )
    authors = [meta[k] for k in ("citation_author", "author", "article:author") if meta.get(k)]
    published = None
    for key in ("article:published_time", "citation_publication_date", "dc.date"):
        if meta.get(key):
            try:
                published = datetime.fromisoformat(meta[key].replace("Z", "+00:00"))
                break
            except ValueError:
                continue
    # A page may name any address as its canonical one; only a web address replaces its own.
    canonical = reader_link(parser.canonical, url) or url
    found = identify(parser.identifiers, (canonical, url))
    return PageDescription(
        url=canonical,
        title=" ".join(html.unescape(title).split()),
        summary=" ".join(summary.split()),
        authors=authors[:5],
        published=published if published and published.tzinfo else None,
        doi=found.doi,
        pmid=found.pmid,
        isbn=found.isbn,
    )


def fetch_description(url: str, allow_private_network: bool = False) -> PageDescription:
    """Fetch a page through the same guarded fetcher as feeds, and read its metadata."""
    checked = check_reader_link(url)
    if checked.link is None:
        raise ManualItemError(_refusal(checked.note))
    url = checked.link

    async def fetch() -> PageDescription:
        async with Fetcher() as fetcher:
            result = await fetcher.fetch(
                FetchRequest(0, url, allow_private_network=allow_private_network)
            )
        if result.status is not FetchStatus.FETCHED:
            assert result.problem is not None
            raise ManualItemError(result.problem.message)
        return describe_page(result.body, result.final_url)

    return asyncio.run(fetch())


def _refusal(note: str | None) -> str:
    reason = f" ({note})" if note else ""
    return f"the address must start with http:// or https://{reason}"


def _manual_feed(session: Session, section: Section) -> Feed:
    feed = session.scalar(select(Feed).where(Feed.name == MANUAL_FEED))
    if feed is None:
        feed = Feed(
            name=MANUAL_FEED,
            kind=FeedKind.MANUAL,
            url="manual:",
            enabled=False,
            newsletter_id=section.newsletter_id,
            section_id=section.id,
        )
        session.add(feed)
        session.flush()
    return feed


def typed_identifiers(doi: str = "", pmid: str = "", isbn: str = "") -> Identifiers:
    """A DOI, PMID and ISBN as a librarian typed (or a fetched page gave) them; one that is
    not what it says is refused, saying which."""
    typed = {"doi": doi.strip(), "pmid": pmid.strip(), "isbn": isbn.strip()}
    found = identify([f"{kind}:{value}" for kind, value in typed.items() if value], [])
    for kind, kept, what in (
        ("doi", found.doi, "a DOI (10.…/…)"),
        ("pmid", found.pmid, "a PubMed id (its digits)"),
        ("isbn", found.isbn, "an ISBN with a right check digit"),
    ):
        if typed[kind] and kept is None:
            raise ManualItemError(f"“{typed[kind]}” is not {what}")
    return found


def _already_known(session: Session, url_key: str | None, ids: Identifiers) -> Item | None:
    """The item with this address, DOI or PMID, if Digest has one."""
    for column, value in ((Item.url_key, url_key), (Item.doi, ids.doi), (Item.pmid, ids.pmid)):
        if value and (known := session.scalar(select(Item).where(column == value).limit(1))):
            return known
    return None


def add_item(
    session: Session,
    title: str,
    url: str,
    summary: str,
    section_id: int,
    actor: str,
    authors: list[str] | None = None,
    published: datetime | None = None,
    identifiers: Identifiers = NO_IDENTIFIERS,
) -> Item:
    """Add an item as a librarian typed or fetched it; an item already known (by its address,
    DOI or PMID) is refused."""
    lock_for_writing(session)
    title = " ".join(title.split())
    if not title:
        raise ManualItemError("an item needs a title")
    section = session.get(Section, section_id)
    if section is None:
        raise ManualItemError("choose a newsletter section")
    checked = check_reader_link(url)
    if checked.note:
        raise ManualItemError(_refusal(checked.note))
    canonical = canonicalize_url(checked.link) if checked.link else None
    if canonical:  # a publisher's or PubMed's address may carry what was not given
        from_address = identify([], [canonical])
        identifiers = replace(
            identifiers,
            doi=identifiers.doi or from_address.doi,
            pmid=identifiers.pmid or from_address.pmid,
        )
    if known := _already_known(session, dedup.url_key(canonical), identifiers):
        where = ", ".join(p.newsletter.title for p in known.placements) or "no newsletter"
        raise ManualItemError(
            f"this page is already in Digest as item {known.id}, “{known.title}” (in {where}); "
            "to offer it to another newsletter, use that item's page"
        )
    # Typed (or a page's own description): plain text, its paragraphs kept, never markup.
    summary_html = text_to_html(summary, canonical)
    entry = ParsedEntry.keyed(
        title=title,
        guid=None,
        link=canonical,
        canonical_url=canonical,
        authors=authors or [],
        published=published,
        summary_html=summary_html,
        summary_text=html_to_text(summary_html),
        doi=identifiers.doi,
        pmid=identifiers.pmid,
        isbn=identifiers.isbn,
    )
    feed = _manual_feed(session, section)
    fe = feed_entries(feed, [entry])
    fe.newsletter_id, fe.section_id = section.newsletter_id, section.id
    counts = store_entries(session, [fe], utcnow())[feed.id]
    if not counts.created:
        raise ManualItemError("the same title and summary were already added by hand, or deleted")
    item = session.get_one(Item, counts.created[0])
    audit.record(
        session,
        actor=actor,
        action=audit.Action.ITEM_ADD,
        object_type=audit.ObjectType.ITEM,
        object_id=item.id,
        summary=title,
        after={"url": canonical, "section": section.name, "doi": identifiers.doi},
    )
    return item
