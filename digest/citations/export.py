"""An edition's items as RIS (rispy) and BibTeX, for a reader's Zotero or EndNote: each item's
CSL record (`records`), every item, cited or not, so a week's reading comes over whole."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Any

import rispy

from digest.citations.rendering import clean_date

_RIS_TYPES = {
    "article-journal": "JOUR",
    "article": "JOUR",
    "book": "BOOK",
    "chapter": "CHAP",
    "report": "RPRT",
    "webpage": "ELEC",
    "post-weblog": "BLOG",
    "thesis": "THES",
    "article-newspaper": "NEWS",
    "article-magazine": "MGZN",
    "paper-conference": "CPAPER",
    "dataset": "DATA",
}
_BIBTEX_TYPES = {
    "article-journal": "article",
    "article": "article",
    "article-newspaper": "article",
    "article-magazine": "article",
    "book": "book",
    "chapter": "incollection",
    "report": "techreport",
    "thesis": "phdthesis",
    "paper-conference": "inproceedings",
}
# Characters TeX reads as commands; written so that the text comes back as it was.
_TEX = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "%": r"\%",
    "&": r"\&",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}
_TEX_CHARS = re.compile(r"[\\{}%&$#_~^]")
_TAGS = re.compile(r"<[^>]+>")


def _people(record: dict[str, Any], role: str) -> list[dict[str, Any]]:
    """The record's names in a role; none when the field is not a list of names."""
    names = record.get(role)
    return names if isinstance(names, list) and all(isinstance(n, dict) for n in names) else []


def _name(name: dict[str, Any]) -> str:
    """A CSL name as "Family, Given" (particles kept), or a body's name."""
    if "literal" in name:
        return name["literal"]
    family = " ".join(p for p in (name.get("non-dropping-particle"), name.get("family")) if p)
    given = " ".join(p for p in (name.get("given"), name.get("dropping-particle")) if p)
    return f"{family}, {given}" if given else family


def _parts(record: dict[str, Any], field: str) -> list[int]:
    """The year, month and day of a date in the record, as far as it gives them."""
    date = clean_date(record.get(field)) or {}
    return (date.get("date-parts") or [[]])[0]


def _year(record: dict[str, Any], field: str = "issued") -> str | None:
    """The year of a date in the record, as text."""
    parts = _parts(record, field)
    return str(parts[0]) if parts else None


def _date(record: dict[str, Any], field: str) -> str | None:
    """A date in the record as RIS writes it: YYYY/MM/DD, as far as it is known."""
    parts = _parts(record, field)
    return "/".join(f"{p:02d}" if i else str(p) for i, p in enumerate(parts)) if parts else None


def _pages(record: dict[str, Any]) -> tuple[str | None, str | None]:
    """The first and last page of the record's page range."""
    page = str(record.get("page") or "")
    first, _, last = page.replace("–", "-").partition("-")
    return first.strip() or None, last.strip() or None


def _plain(value: Any) -> str | None:
    """A field's text without markup; None when empty."""
    return _TAGS.sub("", str(value)).strip() or None if value else None


def ris_entry(record: dict[str, Any]) -> dict[str, Any]:
    """One record as rispy's fields."""
    first, last = _pages(record)
    entry = {
        "type_of_reference": _RIS_TYPES.get(record.get("type", ""), "GEN"),
        "title": _plain(record.get("title")),
        "authors": [_name(n) for n in _people(record, "author")],
        "secondary_authors": [_name(n) for n in _people(record, "editor")],
        "secondary_title": _plain(record.get("container-title")),
        "year": _year(record),
        "date": _date(record, "issued"),
        "access_date": _date(record, "accessed"),
        "volume": record.get("volume"),
        "number": record.get("issue") or record.get("number"),
        "start_page": first,
        "end_page": last,
        "edition": record.get("edition"),
        "publisher": record.get("publisher"),
        "place_published": record.get("publisher-place"),
        "issn": record.get("ISBN") or record.get("ISSN"),
        "doi": record.get("DOI"),
        "urls": [url] if (url := web_address(record.get("URL"))) else [],
        "abstract": _plain(record.get("abstract")),
    }
    # Each value on one line: a line break in a value from outside would start a tag, or a
    # whole record, of its own in the file.
    return {
        key: [_one_line(v) for v in value] if isinstance(value, list) else _one_line(value)
        for key, value in entry.items()
        if value not in (None, "", [])
    }


def _one_line(value: Any) -> str:
    return " ".join(str(value).split())


def web_address(value: Any) -> str | None:
    """An http(s) address with no space in it, else None: what a reference manager is given
    to open, never a `javascript:` link."""
    text = str(value or "").strip()
    if not text.lower().startswith(("https://", "http://")) or any(c.isspace() for c in text):
        return None
    return text


def ris(records: Iterable[dict[str, Any]]) -> str:
    """The records as one RIS file."""
    return rispy.dumps([ris_entry(r) for r in records])


def tex(value: Any) -> str:
    """Text safe inside a BibTeX field's braces; non-ASCII letters stay as UTF-8."""
    return _TEX_CHARS.sub(lambda m: _TEX[m[0]], " ".join(str(value).split()))


def _key(record: dict[str, Any], taken: set[str]) -> str:
    """A citation key not yet taken: first author's family name and year (Jutte2016, Jutte2016a)."""
    names = _people(record, "author") or _people(record, "editor") or [{}]
    who = names[0].get("family") or names[0].get("literal") or "anon"
    ascii_who = unicodedata.normalize("NFKD", who).encode("ascii", "ignore").decode()
    base = (re.sub(r"[^A-Za-z0-9]", "", ascii_who) or "anon") + (_year(record) or "nd")
    key, n = base, 0
    while key in taken:
        n += 1
        key = base + "abcdefghijklmnopqrstuvwxyz"[(n - 1) % 26] + ("" if n <= 26 else str(n))
    taken.add(key)
    return key


def bibtex(records: Iterable[dict[str, Any]]) -> str:
    """The records as one BibTeX file (UTF-8; braces, backslashes, %&$#_~^ escaped)."""
    taken: set[str] = set()
    out = []
    for record in records:
        kind = record.get("type", "")
        container = _plain(record.get("container-title"))
        first, last = _pages(record)
        fields = {
            "title": _plain(record.get("title")),
            "journal" if _BIBTEX_TYPES.get(kind) == "article" else "booktitle": container
            if _BIBTEX_TYPES.get(kind) in ("article", "incollection", "inproceedings")
            else None,
            "year": _year(record),
            "volume": record.get("volume"),
            "number": record.get("issue") or record.get("number"),
            "pages": f"{first}--{last}" if first and last else first,
            "edition": record.get("edition"),
            "series": record.get("collection-title"),
            "publisher"
            if kind not in ("report", "thesis")
            else ("institution" if kind == "report" else "school"): record.get("publisher"),
            "address": record.get("publisher-place"),
            "isbn": record.get("ISBN"),
            "issn": record.get("ISSN"),
            "doi": record.get("DOI"),
            "url": web_address(record.get("URL")),
            "urldate": (_date(record, "accessed") or "").replace("/", "-") or None,
            "howpublished": container if _BIBTEX_TYPES.get(kind) is None else None,
        }
        people = {
            role: " and ".join(_bib_name(n) for n in _people(record, role))
            for role in ("author", "editor")
        }
        lines = [f"  {role} = {{{names}}}" for role, names in people.items() if names]
        lines += [f"  {name} = {{{tex(value)}}}" for name, value in fields.items() if value]
        body = ",\n".join(lines)
        out.append(f"@{_BIBTEX_TYPES.get(kind, 'misc')}{{{_key(record, taken)},\n{body}\n}}\n")
    return "\n".join(out)


def _bib_name(name: dict[str, Any]) -> str:
    """A name as BibTeX reads it, TeX-escaped."""
    # A body's name in braces, so that BibTeX does not read "Department for Education" as
    # a person called Education.
    return f"{{{tex(name['literal'])}}}" if "literal" in name else tex(_name(name))


# What each export is: its media type and writer, by the file extension its route names.
FORMATS = {
    "ris": ("application/x-research-info-systems; charset=utf-8", ris),
    "bib": ("application/x-bibtex; charset=utf-8", bibtex),
}


def edition_records(edition: Any) -> list[dict[str, Any]]:
    """The CSL records of an edition's items, in its order: an item too thin to be cited
    still comes with its title and link."""
    from digest.citations.records import fields_record, item_record

    return [item_record(e.item) or fields_record(e.item) for e in edition.entries]


def export(edition: Any, fmt: str) -> tuple[str, str, str]:
    """An edition's items as a file: (its text, its media type, its file name). KeyError for
    a format that is not in FORMATS."""
    media_type, write = FORMATS[fmt]
    name = f"{edition.newsletter.slug}-{edition.period_start.isoformat()}.{fmt}"
    return write(edition_records(edition)), media_type, name
