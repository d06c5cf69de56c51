"""Parsing a fetched feed into clean entries. Pure and picklable: it runs in worker processes."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

from digest.defaults import MAX_ENTRIES
from digest.ingest import dedup, summaries
from digest.ingest.boilerplate import strip_boilerplate
from digest.ingest.errors import ErrorKind, FeedProblem
from digest.ingest.identifiers import identify
from digest.ingest.jsonfeed import JSONFeedError, is_json_feed, read_json_feed
from digest.ingest.sanitize import html_to_text, sanitize_html, sanitized_html_to_text
from digest.ingest.trim import keep_newest
from digest.ingest.urls import canonicalize_url, check_reader_link, reader_link
from digest.wording import count

_HTML_START = re.compile(
    rb"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body)\b", re.IGNORECASE | re.DOTALL
)
_FEED_LINK = re.compile(r"<link\b[^>]*>", re.IGNORECASE)
_ATTR = re.compile(r'([a-z-]+)\s*=\s*["\']([^"\']*)["\']', re.IGNORECASE)
MAX_PROBLEMS_LISTED = 10  # in a feed's health: enough to act on, short enough to read
FEED_TYPES = (
    "application/rss+xml",
    "application/atom+xml",
    "application/rdf+xml",
    "application/feed+json",
)


@dataclass(slots=True)  # thousands cross between processes: slots pickle faster
class ParsedEntry:
    entry_key: str
    guid: str | None
    link: str | None
    canonical_url: str | None
    url_key: str | None
    title: str
    title_key: str
    authors: list[str]
    published: datetime | None
    summary_html: str
    summary_text: str
    content_hash: str
    full_text_html: str = ""  # the feed's whole text, cleaned; `summary_html` begins it
    full_text: str = ""  # that text as plain words, for search and the look-alike test
    published_estimated: bool = False  # a year alone (catalogues), not a real date
    doi: str | None = None  # lower-case, "10.…/…"
    # Bibliographic details, for catalogue records.
    citation: str | None = None
    publisher: str | None = None
    place: str | None = None
    isbn: str | None = None
    link_note: str | None = None  # why the link the feed gave was dropped
    pmid: str | None = None  # PubMed's id, digits
    csl: dict[str, Any] | None = None  # a structured record (CSL-JSON) the source gave

    @classmethod
    def keyed(
        cls,
        *,
        title: str,
        guid: str | None,
        link: str | None,
        canonical_url: str | None,
        summary_html: str,
        summary_text: str,
        authors: list[str],
        published: datetime | None,
        hashed_text: str | None = None,
        identity: str | None = None,
        **details: Any,
    ) -> ParsedEntry:
        """An entry with its de-duplication keys made the one way, whichever way it came in:
        the content hash from the title and `hashed_text` (else the summary), and the entry
        key from `identity` (else the guid), the canonical URL or that hash."""
        folded_title = dedup.title_key(title)
        text = summary_text if hashed_text is None else hashed_text
        content = dedup.content_hash(title, text, folded_title)
        return cls(
            entry_key=dedup.entry_key(identity or guid, canonical_url, content),
            guid=guid,
            link=link,
            canonical_url=canonical_url,
            url_key=dedup.url_key(canonical_url),
            title=title,
            title_key=folded_title,
            authors=authors,
            published=published,
            summary_html=summary_html,
            summary_text=summary_text,
            content_hash=content,
            **details,
        )


@dataclass
class ParsedFeed:
    title: str | None = None
    site_url: str | None = None
    entries: list[ParsedEntry] = field(default_factory=list)
    problem: FeedProblem | None = None  # FAILED parse when there are no entries, else a warning
    repeated_entries: int = 0
    # For a harvested source (`ingest.sources`): where this harvest got to, kept on the feed
    # when the entries are stored, so that the next asks only for what is newer.
    harvested_until: str | None = None


def _to_datetime(parsed: Any) -> datetime | None:
    if not parsed:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(parsed), UTC)
    except (OverflowError, ValueError, TypeError):
        return None


# feedparser's dict resolves aliases on every lookup; entries are read by their stored keys,
# through plain dict access, which is several times faster.
_get = dict.get


def _authors(entry: Any) -> list[str]:
    names = [a.get("name", "").strip() for a in _get(entry, "authors", []) if a.get("name")]
    if not names and _get(entry, "author"):
        names = [entry["author"].strip()]
    return list(dict.fromkeys(n for n in names if n))


def _summary(entry: Any) -> tuple[str, str | None]:
    """The entry's summary, else its first HTML or text content, with the base URL it carries."""
    for detail in [_get(entry, "summary_detail"), *_get(entry, "content", [])]:
        if detail and _get(detail, "value", "").strip():
            value = detail["value"]
            if _get(detail, "type") == "text/plain":
                value = "<p>" + value.replace("&", "&amp;").replace("<", "&lt;") + "</p>"
            return value, _get(detail, "base") or None
    return "", None


def _web_base(candidate: str | None, fallback: str | None) -> str | None:
    """An http(s) base for relative links; a local file's feed falls back to its site link."""
    if candidate and candidate.startswith(("http://", "https://", "HTTP://", "HTTPS://")):
        return candidate
    return fallback


def discover_feed_links(body: bytes, base_url: str) -> list[str]:
    """Feed addresses an HTML page advertises with `<link rel="alternate" type="...">`."""
    head = body[:200_000].decode("utf-8", "replace")
    links = []
    for tag in _FEED_LINK.findall(head):
        attrs = {k.lower(): v for k, v in _ATTR.findall(tag)}
        if (
            "alternate" in attrs.get("rel", "").lower()
            and attrs.get("type") in FEED_TYPES
            and attrs.get("href")
        ):
            links.append(urljoin(base_url, attrs["href"]))
    return links


def _not_a_feed(body: bytes, base_url: str) -> FeedProblem:
    links = discover_feed_links(body, base_url)
    hint = (
        f" The page links to a feed at {links[0]}: use that address instead."
        if links
        else " Look on the site for an RSS or Atom link."
    )
    return FeedProblem(ErrorKind.NOT_A_FEED, "The address returned a web page, not a feed." + hint)


def parse_feed(
    body: bytes, headers: dict[str, str], url: str, max_entries: int = MAX_ENTRIES
) -> ParsedFeed:
    """Entries of a feed (its newest `max_entries`), sanitized and keyed, or the reason there
    are none."""
    try:
        return _parse(body, headers, url, max_entries)
    except Exception as exc:  # a worker must hand back a result, never die on one bad feed
        return ParsedFeed(
            problem=FeedProblem(ErrorKind.PARSE_ERROR, f"The feed could not be read: {exc}")
        )


def _parse(body: bytes, headers: dict[str, str], url: str, max_entries: int) -> ParsedFeed:
    if is_json_feed(body, headers.get("content-type", "")):
        return _parse_json(body, url, max_entries)
    trimmed = keep_newest(body, max_entries)
    parsed = _parse_xml(trimmed.body, headers, url)
    if trimmed.kept < trimmed.total and parsed.entries:
        which = "newest" if trimmed.by_date else "first"
        _add_warning(
            parsed,
            f"it has {trimmed.total:,} entries, and Digest reads the {which} "
            f"{max_entries:,} in a poll",
        )
    return parsed


def _add_warning(parsed: ParsedFeed, what: str) -> None:
    """A warning about the feed as a whole, said with any the parse gave."""
    if parsed.problem is None:
        parsed.problem = FeedProblem(ErrorKind.WARNING, f"The feed was cut short: {what}.")
    elif parsed.problem.kind is ErrorKind.WARNING:
        parsed.problem = FeedProblem(ErrorKind.WARNING, f"{parsed.problem.message} Also, {what}.")


def _parse_xml(body: bytes, headers: dict[str, str], url: str) -> ParsedFeed:
    # Links are resolved here, not by feedparser: given a base URL it spends a third of its
    # time resolving every element's URI. (A local file's path is no base for links at all.)
    # Imported here: a poll parses in worker processes (which import it ahead), so the
    # command's own process never needs it for a large poll.
    import feedparser

    response_headers = {"content-type": headers.get("content-type") or "application/xml"}
    result = feedparser.parse(
        body, response_headers=response_headers, sanitize_html=False, resolve_relative_uris=False
    )
    if (
        not result.entries
        and not result.version
        and (_HTML_START.match(body) or "html" in headers.get("content-type", "").lower())
    ):
        return ParsedFeed(problem=_not_a_feed(body, url))
    site_url = result.feed.get("link") or None
    parsed = _collect(
        result.entries, html_to_text(result.feed.get("title", "")) or None, site_url, url
    )
    if not parsed.entries and result.bozo:
        parsed.problem = FeedProblem(
            ErrorKind.PARSE_ERROR,
            "The feed is not well-formed XML "
            f"and no entry could be read from it: {_describe(result)}.",
        )
    elif not parsed.entries and not result.version:
        parsed.problem = FeedProblem(
            ErrorKind.NOT_A_FEED, "The address did not return an RSS, Atom, RDF or JSON feed."
        )
    elif result.bozo:
        parsed.problem = _warning(_describe(result), len(parsed.entries))
    return parsed


def _parse_json(body: bytes, url: str, max_entries: int) -> ParsedFeed:
    try:
        feed = read_json_feed(body, max_entries)
    except JSONFeedError as exc:
        kind = ErrorKind.NOT_A_FEED if exc.is_other_json else ErrorKind.PARSE_ERROR
        return ParsedFeed(problem=FeedProblem(kind, f"The feed is not a valid JSON Feed: {exc}."))
    parsed = _collect(feed.entries, feed.title, feed.home_page_url, url)
    if feed.problems:
        listed = feed.problems[:MAX_PROBLEMS_LISTED]
        more = len(feed.problems) - len(listed)
        what = "; ".join(listed) + (f"; and {more:,} more" if more else "")
        parsed.problem = _warning(what, len(parsed.entries))
    if feed.read_items < feed.total_items and parsed.entries:
        _add_warning(
            parsed,
            f"it has {feed.total_items:,} items, and Digest reads the newest "
            f"{max_entries:,} in a poll",
        )
    return parsed


def _collect(raws: list[Any], title: str | None, site_url: str | None, url: str) -> ParsedFeed:
    """The feed's entries, cleaned and keyed; an entry repeated in the feed is counted once."""
    parsed = ParsedFeed(title=title, site_url=reader_link(site_url, url))
    seen: set[str] = set()
    for raw in raws:
        entry = _entry(raw, base=_web_base(url, parsed.site_url))
        if entry is None:
            continue
        if entry.entry_key in seen:
            parsed.repeated_entries += 1
            continue
        seen.add(entry.entry_key)
        parsed.entries.append(entry)
    return parsed


def _warning(what: str, read: int) -> FeedProblem:
    return FeedProblem(
        ErrorKind.WARNING,
        f"The feed has errors ({what}); {count(read, 'entry')} could still be read.",
    )


def _describe(result: Any) -> str:
    exc = result.get("bozo_exception")
    line = getattr(exc, "getLineNumber", lambda: None)()
    text = getattr(exc, "getMessage", lambda: str(exc))()
    return f"{text} at line {line}" if line else str(text)


def _entry(raw: Any, base: str | None) -> ParsedEntry | None:
    checked = check_reader_link(_get(raw, "link"), base)
    link = checked.link
    summary_raw, summary_base = _summary(raw)
    entry_base = _web_base(summary_base, base)
    full_html = strip_boilerplate(sanitize_html(summary_raw, entry_base))
    full_text = sanitized_html_to_text(full_html)
    summary_html, summary_text = summaries.summarised(full_html, full_text)
    title = html_to_text(_get(raw, "title", "")) or summary_text[:120]
    if not title and not link:
        return None
    guid = (_get(raw, "id") or "").strip() or None
    found = identify(
        (_get(raw, "prism_doi"), _get(raw, "dc_identifier"), guid),
        (link, _get(raw, "link"), _get(raw, "prism_url"), _get(raw, "external_url")),
        full_text,
        full_html,
    )
    entry = ParsedEntry.keyed(
        title=title,
        guid=guid,
        link=link,
        canonical_url=canonicalize_url(link) if link else None,
        authors=_authors(raw),
        published=_to_datetime(
            _get(raw, "published_parsed")
            or _get(raw, "updated_parsed")
            or _get(raw, "created_parsed")
        ),
        summary_html=summary_html,
        summary_text=summary_text,
        hashed_text=full_text,  # the whole text: a summary cut shorter is the same publication
        full_text_html=full_html,
        full_text=full_text,
        doi=found.doi,
        pmid=found.pmid,
        isbn=found.isbn,
        link_note=checked.note,
    )
    if not title:  # keyed by its (empty) title, shown by its link
        entry.title = link or ""
    return entry
