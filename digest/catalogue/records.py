"""Reading catalogue exports (RIS and CSV; MARC in `marc`) into records, with a clear reason
for each bad one.

Records come one at a time, so a catalogue of a million rows costs the memory of one. A record
is checked against what the database takes (the lengths of the item's columns, no control
characters) before anything is written. A file is read in UTF-8, or in the encoding found
from its bytes or named by the person importing it (see `digest.csvfiles`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import rispy

from digest import csvfiles
from digest.errors import Invalid
from digest.ingest.identifiers import find_doi
from digest.ingest.urls import reader_link
from digest.models import Item

CSV_COLUMNS = ("title", "authors", "year", "publisher", "place", "url", "isbn", "abstract", "doi")
_YEAR = re.compile(r"^(\d{4})")
_ISBN = re.compile(r"^(?:97[89])?\d{9}[\dX]$")
MAX_DOI = Item.__table__.c.doi.type.length
TEXT_FIELDS = ("title", "authors", "year", "publisher", "place", "url", "isbn", "abstract", "doi")


# RIS reference types as CSL names them; a type not listed is cited by what it has (`kind`
# None: a book with an ISBN, else a report).
RIS_KINDS = {
    "JOUR": "article-journal",
    "JFULL": "article-journal",
    "MGZN": "article-magazine",
    "NEWS": "article-newspaper",
    "BOOK": "book",
    "EBOOK": "book",
    "EDBOOK": "book",
    "CHAP": "chapter",
    "ECHAP": "chapter",
    "RPRT": "report",
    "GOVDOC": "report",
    "THES": "thesis",
    "CONF": "paper-conference",
    "CPAPER": "paper-conference",
    "ELEC": "webpage",
    "WEB": "webpage",
    "BLOG": "post-weblog",
    "DATA": "dataset",
    "STAND": "standard",
}
_SERIAL_PARTS = {"article-journal", "article-magazine", "article-newspaper"}
# rispy leaves out ED (editors) and BT (a chapter's book): read them too.
_RIS_MAPPING = {**rispy.TAG_KEY_MAPPING, "ED": "editors", "BT": "book_title"}
_RIS_LIST_TAGS = [*rispy.LIST_TYPE_TAGS, "ED"]


@dataclass
class CatalogueRecord:
    title: str
    authors: list[str] = field(default_factory=list)
    year: int | None = None
    publisher: str | None = None
    place: str | None = None
    url: str | None = None
    isbn: str | None = None
    abstract: str = ""
    doi: str | None = None
    # What it is, as CSL names it ("book", "report", "chapter", "article-journal", ...), and
    # the details a citation of it needs beyond the above; None where the catalogue is silent.
    kind: str | None = None
    container_title: str | None = None  # the book a chapter is in, the journal of an article
    editors: list[str] = field(default_factory=list)
    edition: str | None = None
    series: str | None = None
    volume: str | None = None
    issue: str | None = None
    pages: str | None = None
    issn: str | None = None


@dataclass(frozen=True)
class RecordError:
    number: int  # a CSV row as a spreadsheet numbers it (header = 1), or the RIS record's number
    message: str
    unit: str = "record"

    def __str__(self) -> str:
        return f"{self.unit} {self.number}: {self.message}"


class CatalogueFormatError(Invalid):
    """The file as a whole cannot be read (unknown format, missing columns, ...)."""


def _clean(value: str | None) -> str | None:
    value = " ".join((value or "").split())
    return value or None


def build_record(
    title: str | None,
    authors: list[str],
    year: str | None,
    publisher: str | None,
    place: str | None,
    url: str | None,
    isbn: str | None,
    abstract: str | None,
    doi: str | None = None,
    **citing: Any,
) -> CatalogueRecord:
    """A validated record; raises ValueError naming the first field that is wrong. `citing`
    are the details only a citation needs (`kind`, `container_title`, `editors`, ...), kept
    as given, without empty values."""
    problems = []
    title = _clean(title)
    if not title:
        problems.append("the title is missing")
    year_number = None
    if _clean(year):
        match = _YEAR.match(_clean(year) or "")
        if match and 1450 <= int(match[1]) <= 2100:
            year_number = int(match[1])
        else:
            problems.append(f"the year {year!r} is not a four-digit year")
    given = _clean(url)
    url = reader_link(given)
    if given and url is None:
        problems.append(f"the URL {given!r} is not an http(s) address")
    isbn_clean = (_clean(isbn) or "").replace("-", "").replace(" ", "").upper() or None
    if isbn_clean and not _ISBN.match(isbn_clean):
        problems.append(f"the ISBN {isbn!r} is not a 10 or 13 digit ISBN")
    doi_clean = find_doi([_clean(doi)], [url])
    if _clean(doi) and doi_clean is None:
        problems.append(f"the DOI {doi!r} is not a DOI (10.NNNN/…)")
    if doi_clean and len(doi_clean) > MAX_DOI:
        problems.append(f"the DOI has {len(doi_clean):,} characters, over the {MAX_DOI} taken")
    if problems:
        raise ValueError("; ".join(problems))
    return CatalogueRecord(
        title=title or "",
        authors=[a for a in (_clean(x) for x in authors) if a],
        year=year_number,
        publisher=_clean(publisher),
        place=_clean(place),
        url=url,
        isbn=isbn_clean,
        abstract=(abstract or "").strip(),
        doi=doi_clean,
        **{name: value for name, value in citing.items() if value},
    )


Found = tuple[int, CatalogueRecord] | RecordError  # a record and its number, or why not


def read_csv(path: Path, encoding: str | None = None) -> Iterator[Found]:
    try:
        with csvfiles.open_csv(path, encoding) as found:
            if "title" not in found.columns:
                raise CatalogueFormatError(
                    f"{path}: the first row must name the columns, including "
                    f"'title' (expected: {', '.join(CSV_COLUMNS)})"
                )
            yield from _csv_records(found)
    except csvfiles.CsvFileError as exc:
        raise CatalogueFormatError(f"{path}: {exc}") from None


def _csv_records(found: csvfiles.CsvFile) -> Iterator[Found]:
    columns = found.columns
    for record in found.records:
        number = record.number
        if record.problem:
            yield RecordError(number, record.problem, "row")
            continue
        if len(record.cells) > len(columns):
            yield RecordError(
                number,
                f"has {len(record.cells)} fields but the header names {len(columns)}",
                "row",
            )
            continue
        row = dict(zip(columns, record.cells, strict=False))
        if record.control and (problem := csvfiles.control_problem(row, TEXT_FIELDS)):
            yield RecordError(number, problem, "row")
            continue
        try:
            yield (
                number,
                build_record(
                    row.get("title"),
                    (row.get("authors") or "").split(";"),
                    row.get("year"),
                    row.get("publisher"),
                    row.get("place"),
                    row.get("url"),
                    row.get("isbn"),
                    row.get("abstract"),
                    row.get("doi"),
                ),
            )
        except ValueError as exc:
            yield RecordError(number, str(exc), "row")


def read_ris(path: Path, encoding: str | None = None) -> Iterator[Found]:
    try:
        text = path.read_text(encoding=encoding or csvfiles.find_encoding(path))
        if text.startswith("\ufeff"):
            text = text[1:]
        entries = rispy.loads(text, mapping=_RIS_MAPPING, list_tags=_RIS_LIST_TAGS)
    except csvfiles.CsvFileError as exc:
        raise CatalogueFormatError(f"{path}: {exc}") from None
    except (OSError, UnicodeDecodeError, LookupError, ValueError, IndexError) as exc:
        raise CatalogueFormatError(f"{path}: not a readable RIS file: {exc}") from exc
    for number, entry in enumerate(entries, start=1):
        kind = RIS_KINDS.get(str(entry.get("type_of_reference") or "").upper())
        serial = kind in _SERIAL_PARTS
        fields = {
            "title": entry.get("title") or entry.get("primary_title"),
            "authors": entry.get("authors") or entry.get("first_authors") or [],
            "year": entry.get("year") or entry.get("date"),
            "publisher": entry.get("publisher"),
            "place": entry.get("place_published"),
            "url": (entry.get("urls") or [None])[0],
            # SN is a journal's ISSN for an article, a book's ISBN otherwise.
            "isbn": None if serial else entry.get("issn"),
            "abstract": entry.get("abstract"),
            "doi": entry.get("doi"),
        }
        texts = {k: "; ".join(v) if isinstance(v, list) else v for k, v in fields.items()}
        if problem := csvfiles.control_problem(texts, TEXT_FIELDS):
            yield RecordError(number, problem)
            continue
        citing = {
            "kind": kind,
            "container_title": _first_text(
                entry, "journal_name", "secondary_title", "book_title", "alternate_title3"
            ),
            "editors": [e for e in (_clean(x) for x in entry.get("editors") or []) if e],
            "edition": _clean(entry.get("edition")),
            "series": _clean(entry.get("tertiary_title")) if kind != "chapter" else None,
            "volume": _clean(entry.get("volume")),
            "issue": _clean(entry.get("number")),
            "pages": _pages(entry.get("start_page"), entry.get("end_page")),
            "issn": _clean(entry.get("issn")) if serial else None,
        }
        try:
            yield number, build_record(**fields, **citing)
        except (ValueError, TypeError) as exc:
            yield RecordError(number, str(exc))


def _first_text(entry: dict[str, Any], *keys: str) -> str | None:
    return next((text for key in keys if (text := _clean(entry.get(key)))), None)


def _pages(start: str | None, end: str | None) -> str | None:
    start, end = _clean(start), _clean(end)
    return f"{start}–{end}" if start and end and start != end else start or end
