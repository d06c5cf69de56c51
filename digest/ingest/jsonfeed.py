"""Reading JSON Feed 1.0 and 1.1 (https://jsonfeed.org) into the entries feedparser would give.

feedparser 6.0 reads XML feeds only. The reader here checks a JSON Feed's structure and turns
each item into the dictionary shape of a feedparser entry (`id`, `link`, `title`,
`summary_detail`, `content`, `published_parsed`, `authors`, `tags`), so that JSON items are
cleaned, keyed and stored by the same code as RSS and Atom entries. Every problem is said with
where it is (item number and id); one bad item never costs the others.
"""

from __future__ import annotations

import contextlib
import heapq
import html
import json
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from digest.defaults import MAX_ENTRIES
from digest.errors import Invalid
from digest.ingest.urls import reader_link

# The versions the spec has published; a feed names one in its "version".
VERSIONS = ("https://jsonfeed.org/version/1", "https://jsonfeed.org/version/1.1")
_VERSION = re.compile(r"^https?://jsonfeed\.org/version/1(\.\d+)?$")
MEDIA_TYPES = ("application/feed+json", "application/json")
_BOM = b"\xef\xbb\xbf"
_JSON_TYPES = {dict: "an object", list: "a list", str: "text", bool: "true or false"}


class JSONFeedError(Invalid):
    """The body is not a JSON Feed that can be read; the message says why and where."""

    def __init__(self, message: str, is_other_json: bool = False) -> None:
        super().__init__(message)
        self.is_other_json = is_other_json  # valid JSON, but no JSON Feed at all


@dataclass
class JSONFeed:
    """A JSON Feed, with its items as feedparser-shaped entries."""

    title: str | None
    home_page_url: str | None
    entries: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # about single items: they were skipped
    total_items: int = 0  # in the document; only the newest `max_items` are read
    read_items: int = 0


def is_json_feed(body: bytes, content_type: str) -> bool:
    """Whether to read `body` as a JSON Feed: it starts like a JSON object, or the server
    calls it JSON and it does not start like XML."""
    start = body[:64].removeprefix(_BOM).lstrip()[:1]
    if start == b"{":
        return True
    media = content_type.split(";")[0].strip().lower()
    return media in MEDIA_TYPES and start != b"<"


def _newest(items: list[Any], limit: int) -> list[tuple[int, Any]]:
    """The newest `limit` items with their numbers, in the feed's order: by date_published
    (else date_modified); undated ones, and ones that are no object, after the dated."""
    numbered = list(enumerate(items, start=1))
    if len(numbered) <= limit:
        return numbered

    def age(pair: tuple[int, Any]) -> tuple[bool, float, int]:
        number, item = pair
        when = None
        if isinstance(item, dict):
            for name in ("date_published", "date_modified"):
                value = item.get(name)
                if isinstance(value, str):
                    with contextlib.suppress(ValueError):
                        when = datetime.fromisoformat(value.strip())
                        when = when if when.tzinfo else when.replace(tzinfo=UTC)
                        break
        return (when is None, -when.timestamp() if when else 0.0, number)

    return sorted(heapq.nsmallest(limit, numbered, key=age))


def read_json_feed(body: bytes, max_items: int = MAX_ENTRIES) -> JSONFeed:
    """The feed's title, home page and entries (of its newest `max_items` items);
    JSONFeedError when it cannot be read."""
    document = _load(body)
    if not isinstance(document, dict):
        raise JSONFeedError(f"the document is {_kind(document)}, not an object")
    version = document.get("version")
    if not isinstance(version, str) or not _VERSION.match(version.strip()):
        raise JSONFeedError(
            'it names no JSON Feed version (its "version" should be '
            f"{VERSIONS[-1]}). The address may be a web API rather than a feed",
            is_other_json=True,
        )
    if "items" not in document:
        raise JSONFeedError('it has no "items"')
    items = document["items"]
    if not isinstance(items, list):
        raise JSONFeedError(f'its "items" is {_kind(items)}, not a list')
    feed = JSONFeed(_text(document.get("title")), _text(document.get("home_page_url")))
    chosen = _newest(items, max_items)
    feed.total_items, feed.read_items = len(items), len(chosen)
    for number, item in chosen:
        if not isinstance(item, dict):
            feed.problems.append(f"item {number} is {_kind(item)}, not an object")
            continue
        entry, problems = _entry(item, feed.home_page_url)
        where = _where(number, entry.get("id"))
        feed.problems += [f"{where}: {problem}" for problem in problems]
        if _readable(entry):
            feed.entries.append(entry)
        else:
            feed.problems.append(f"{where} has no title, text or link")
    if not feed.entries and feed.problems:
        raise JSONFeedError("; ".join(feed.problems) + ". No entry could be read")
    return feed


def _load(body: bytes) -> Any:
    try:
        return json.loads(body)  # detects UTF-8 (with or without BOM), UTF-16 and UTF-32
    except UnicodeDecodeError as exc:
        raise JSONFeedError(
            f"it is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at position {exc.start})"
        ) from None
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        if not exc.doc[exc.pos :].strip():
            raise JSONFeedError(f"the JSON ends too soon ({where})") from None
        raise JSONFeedError(f"{exc.msg} ({where})") from None


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "a number"
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _where(number: int, item_id: str | None) -> str:
    return f'item {number} (id "{item_id}")' if item_id else f"item {number}"


def _readable(entry: dict[str, Any]) -> bool:
    return any(entry.get(key) for key in ("title", "link", "summary_detail", "content"))


class _Fields:
    """An item's fields, read by type: a field of the wrong type is noted and left out."""

    def __init__(self, item: dict[str, Any]) -> None:
        self.item = item
        self.problems: list[str] = []

    def text(self, name: str) -> str | None:
        value = self.item.get(name)
        if value is None or isinstance(value, str):
            return _text(value)
        self.problems.append(f'its "{name}" is {_kind(value)}, not text')
        return None

    def date(self, name: str) -> time.struct_time | None:
        value = self.text(name)
        if value is None:
            return None
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            self.problems.append(f'its "{name}" is not an RFC 3339 date: "{value}"')
            return None
        if moment.tzinfo is None:  # RFC 3339 requires an offset; UTC is the likeliest
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC).timetuple()

    def authors(self) -> list[dict[str, str]]:
        """1.1's `authors`, else 1.0's single `author` (1.1 feeds may still carry it)."""
        given = self.item.get("authors")
        if given is None and self.item.get("author") is not None:
            given = [self.item["author"]]
        if given is None:
            return []
        if not isinstance(given, list):
            self.problems.append(f'its "authors" is {_kind(given)}, not a list')
            return []
        names = [a.get("name") for a in given if isinstance(a, dict)]
        return [{"name": name.strip()} for name in names if isinstance(name, str) and name.strip()]

    def tags(self) -> list[dict[str, Any]]:
        given = self.item.get("tags") or []
        if not isinstance(given, list):
            self.problems.append(f'its "tags" is {_kind(given)}, not a list')
            return []
        return [{"term": t, "scheme": None, "label": None} for t in given if isinstance(t, str)]


def _entry(item: dict[str, Any], home_page_url: str | None) -> tuple[dict[str, Any], list[str]]:
    """One item in feedparser's entry shape, and what was wrong with its fields."""
    fields = _Fields(item)
    raw_id = item.get("id")
    # The spec asks readers to take a number (or other scalar) id as text.
    item_id = str(raw_id).strip() if isinstance(raw_id, str | int | float) else None
    if raw_id is not None and not isinstance(raw_id, str | int | float):
        fields.problems.append(f'its "id" is {_kind(raw_id)}, not text')
    entry: dict[str, Any] = {"id": item_id or None}
    url, external = fields.text("url"), fields.text("external_url")
    # The item's own page, else the page it is about; one that readers may not be given (a
    # `javascript:` url, say) yields to the other, and is kept only to be noted when both are.
    entry["link"] = next(
        (each for each in (url, external) if reader_link(each, home_page_url)), url or external
    )
    # The page the item is about (perhaps a DOI's resolver), for its identifiers.
    entry["external_url"] = external
    # JSON has no xml:base: relative links in the item's HTML are taken as relative to the
    # item's own page, as a browser showing that page would.
    base = reader_link(url, home_page_url) or reader_link(home_page_url)
    title = fields.text("title")
    if title:  # plain text: escaped so that HTML-to-text turns it back into itself
        entry["title"] = html.escape(title, quote=False)
    summary = fields.text("summary")
    if summary:
        entry["summary_detail"] = {"value": summary, "type": "text/plain", "base": base}
    content = [
        {"value": value, "type": kind, "base": base}
        for value, kind in (
            (fields.text("content_html"), "text/html"),
            (fields.text("content_text"), "text/plain"),
        )
        if value
    ]
    if content:
        entry["content"] = content
    entry["published_parsed"] = fields.date("date_published")
    entry["updated_parsed"] = fields.date("date_modified")
    entry["authors"] = fields.authors()
    entry["tags"] = fields.tags()
    return entry, fields.problems
