"""Reading catalogue exports (RIS and CSV) into records, with a clear reason for each bad one."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

import rispy

from digest.ingest.identifiers import find_doi
from digest.ingest.urls import reader_link

CSV_COLUMNS = ("title", "authors", "year", "publisher", "place", "url", "isbn", "abstract", "doi")
_YEAR = re.compile(r"^(\d{4})")
_ISBN = re.compile(r"^(?:97[89])?\d{9}[\dX]$")


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


@dataclass(frozen=True)
class RecordError:
    number: int  # a CSV row as a spreadsheet numbers it (header = 1), or the RIS record's number
    message: str
    unit: str = "record"

    def __str__(self) -> str:
        return f"{self.unit} {self.number}: {self.message}"


class CatalogueFormatError(ValueError):
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
) -> CatalogueRecord:
    """A validated record; raises ValueError naming the first field that is wrong."""
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
    )


def read_csv(path: Path) -> tuple[list[tuple[int, CatalogueRecord]], list[RecordError]]:
    records, errors = [], []
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        columns = [c.strip().lower() for c in reader.fieldnames or []]
        if "title" not in columns:
            raise CatalogueFormatError(
                f"{path}: the first row must name the columns, including "
                f"'title' (expected: {', '.join(CSV_COLUMNS)})"
            )
        reader.fieldnames = columns
        for number, row in enumerate(reader, start=2):
            if None in row:
                errors.append(
                    RecordError(
                        number,
                        f"has {len(columns) + len(row[None])} fields "
                        f"but the header names {len(columns)}",
                        "row",
                    )
                )
                continue
            try:
                records.append(
                    (
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
                )
            except ValueError as exc:
                errors.append(RecordError(number, str(exc), "row"))
    return records, errors


def read_ris(path: Path) -> tuple[list[tuple[int, CatalogueRecord]], list[RecordError]]:
    try:
        entries = rispy.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, ValueError, IndexError) as exc:
        raise CatalogueFormatError(f"{path}: not a readable RIS file: {exc}") from exc
    records, errors = [], []
    for number, entry in enumerate(entries, start=1):
        try:
            records.append(
                (
                    number,
                    build_record(
                        entry.get("title") or entry.get("primary_title"),
                        entry.get("authors") or entry.get("first_authors") or [],
                        entry.get("year") or entry.get("date"),
                        entry.get("publisher"),
                        entry.get("place_published"),
                        (entry.get("urls") or [None])[0],
                        entry.get("issn"),
                        entry.get("abstract"),
                        entry.get("doi"),
                    ),
                )
            )
        except ValueError as exc:
            errors.append(RecordError(number, str(exc)))
    return records, errors


def read_catalogue(path: Path) -> tuple[list[tuple[int, CatalogueRecord]], list[RecordError]]:
    """Records of a `.ris` or `.csv` file, and the reasons the bad ones were left out."""
    suffix = path.suffix.lower()
    if suffix in (".ris", ".txt"):
        return read_ris(path)
    if suffix == ".csv":
        return read_csv(path)
    raise CatalogueFormatError(f"{path}: unknown catalogue format {suffix!r} (use .ris or .csv)")
