"""MARC21 fields as a catalogue record: the title without ISBD punctuation, authors and
editors by their roles, the imprint, identifiers, and what the record describes (a book, a
report, a chapter in a book, an article in a journal) with its host's details.
"""

from __future__ import annotations

import re

from pymarc import Field, Record

from digest import csvfiles
from digest.catalogue.records import TEXT_FIELDS, CatalogueRecord, build_record

_ISBN = re.compile(r"(?:97[89][\d-]{10,14}|\d[\d-]{8,12}[\dXx])")
_ISSN = re.compile(r"\b(\d{4})-?(\d{3}[\dXx])\b")
_YEAR = re.compile(r"(1[4-9]\d\d|20\d\d)")
# "Vol. 12, no. 3 (2016), p. 45-67", "12(3):45-67", "Bd. 4, Heft 2, S. 10–20"
_VOLUME = re.compile(r"(?:\bv(?:ol)?s?\.?|\bBd\.?|\bJahrg\.?)\s*(\w+)", re.IGNORECASE)
_ISSUE = re.compile(r"(?:\bno\.?|\bnr\.?|\bissue|\bHeft|\bH\.)\s*(\w+)", re.IGNORECASE)
_PAGES = re.compile(r"(?:\bpp?\.?|\bS\.)\s*(\d+(?:\s*[-–]\s*\d+)?)", re.IGNORECASE)
_COMPACT = re.compile(r"^(\d+)\s*\((\w+)\)\s*:?\s*(\d+(?:\s*[-–]\s*\d+)?)?")
_EDITOR = re.compile(r"\bed(?:itor|\.|s\.)|\bhrsg|\bherausgeber|\bdir(?:ecteur|\.)|\bedt\b", re.I)
_AUTHOR = re.compile(r"\baut(?:hor|\b)|\bverfasser|\bcre\b|\bauteur", re.IGNORECASE)
# Leader/06 (type of record) for what is not text, as CSL names it.
_NOT_TEXT = {
    "c": "musical_score",
    "d": "musical_score",
    "e": "map",
    "f": "map",
    "g": "motion_picture",
    "i": "song",
    "j": "song",
    "k": "graphic",
    "m": "software",
    "t": "manuscript",
}


def _tidy(value: str | None) -> str | None:
    """A subfield without ISBD's closing punctuation (" /", " :", " ;", ",", "=") or square
    brackets (a cataloguer's supplied words)."""
    if not value:
        return None
    value = " ".join(value.replace("[", "").replace("]", "").split())
    value = re.sub(r"\s*[/:;,=]$", "", value).strip()
    return value or None


def heading_name(value: str | None) -> str | None:
    """A name or title ("Jütte, Sonja," "Smith, J. R.", "Kinship care.") without its closing
    punctuation; a full stop stays after an initial."""
    name = _tidy(value)
    if name and name.endswith(".") and not re.search(r"(?:^|[\s,.])\w\.$", name):
        name = name[:-1].rstrip()
    return name or None


def _sub(field: Field, *codes: str) -> list[str]:
    return [v for v in field.get_subfields(*codes) if v and v.strip()]


def _first(record: Record, tag: str, code: str) -> str | None:
    for field in record.get_fields(tag):
        if values := _sub(field, code):
            return values[0]
    return None


def _title(record: Record) -> str | None:
    field = record.get("245")
    if field is None:
        return None
    main = heading_name(" ".join(_sub(field, "a", "n", "p")))
    rest = heading_name(" ".join(_sub(field, "b")))
    return f"{main}: {rest}" if main and rest else main


def _names(record: Record) -> tuple[list[str], list[str]]:
    """Authors and editors from the main entry (1XX) and the added entries (7XX)."""
    authors: list[str] = []
    editors: list[str] = []
    bodies: list[str] = []  # corporate added entries named in no role
    for field in record.get_fields("100", "110", "111", "700", "710", "711"):
        if field.tag.startswith("7") and _sub(field, "t"):
            continue  # an entry for another work (name and title), not a maker of this one
        codes = ("a",) if field.tag.endswith("00") else ("a", "b")
        name = heading_name(". ".join(_tidy(v) or "" for v in _sub(field, *codes)))
        if not name:
            continue
        role = " ".join(_sub(field, "e", "4", "j"))
        if _EDITOR.search(role):
            editors.append(name)
        elif field.tag.startswith("1") or _AUTHOR.search(role) or (not role and field.tag == "700"):
            authors.append(name)
        elif not role and field.tag in ("710", "711"):
            bodies.append(name)
    if not authors and not editors:
        authors = bodies  # a report by an organisation named only as an added entry
    return list(dict.fromkeys(authors)), list(dict.fromkeys(editors))


def _isbn(record: Record) -> str | None:
    """The first ISBN of 020 $a that looks like one, else the first given (build_record then
    says why it is not one); a qualifier such as "(pbk.)" is dropped."""
    given = [v for f in record.get_fields("020") for v in _sub(f, "a")]
    for value in given:
        if match := _ISBN.search(value):
            return match[0]
    return given[0] if given else None


def _issn(record: Record, tag: str = "022", code: str = "a") -> str | None:
    for field in record.get_fields(tag):
        for value in _sub(field, code):
            if match := _ISSN.search(value):
                return f"{match[1]}-{match[2].upper()}"
    return None


def _doi(record: Record) -> str | None:
    for field in record.get_fields("024"):
        if field.indicator1 == "7" and any(s.lower() == "doi" for s in _sub(field, "2")):
            return next(iter(_sub(field, "a")), None)
    return None


def _imprint(record: Record) -> tuple[str | None, str | None, str | None]:
    """Place, publisher and date of publication: 264 with second indicator 1, else 260."""
    fields = [f for f in record.get_fields("264") if f.indicator2 == "1"]
    field = (fields or record.get_fields("260") or [None])[0]
    if field is None:
        return None, None, None
    place, publisher, date = (next(iter(_sub(field, c)), None) for c in "abc")
    return _tidy(place), _tidy(publisher), date


def _year(record: Record, date: str | None) -> str | None:
    """The year of the imprint, else 008's first date."""
    if date and (match := _YEAR.search(date)):
        return match[0]
    fixed = record.get("008")
    if fixed is not None and fixed.data and (match := _YEAR.fullmatch(fixed.data[7:11])):
        return match[0]
    return None


def _url(record: Record) -> str | None:
    """The resource itself (856 second indicator 0 or 1) before a related one."""
    fields = sorted(record.get_fields("856"), key=lambda f: f.indicator2 not in ("0", "1"))
    for field in fields:
        for value in _sub(field, "u"):
            if value.strip().lower().startswith(("http://", "https://")):
                return value.strip()
    return None


def _kind(record: Record) -> str:
    """What the record describes, as CSL names it, from leader/06-07, 008 and notes."""
    leader = str(record.leader)
    form, level = leader[6:7], leader[7:8]
    if form in _NOT_TEXT:
        return _NOT_TEXT[form]
    if level == "a":
        return "chapter"
    if level == "b":
        return "article-journal"
    if level in ("s", "i"):
        return "periodical"
    fixed = record.get("008")
    nature = fixed.data[24:28] if fixed is not None and fixed.data else ""
    if "m" in nature or record.get("502") is not None:
        return "thesis"
    if "t" in nature or record.get("088") is not None:
        return "report"
    return "book"


def _host(record: Record, found: CatalogueRecord) -> None:
    """The book a chapter is in, or the journal of an article (773), with its numbering."""
    host = record.get("773")
    if host is None:
        return
    found.container_title = _tidy(next(iter(_sub(host, "t")), None))
    found.issn = found.issn or _issn(record, "773", "x")
    numbering = " ".join(_sub(host, "g"))
    if match := _COMPACT.match(numbering.strip()):
        found.volume, found.issue, found.pages = match[1], match[2], match[3]
    else:
        found.volume, found.issue, found.pages = (
            m[1] if (m := pattern.search(numbering)) else None
            for pattern in (_VOLUME, _ISSUE, _PAGES)
        )
    if found.pages:
        found.pages = re.sub(r"\s*[-–]\s*", "-", found.pages)
    if not found.publisher and (imprint := _tidy(" ".join(_sub(host, "d")))):
        place, _, publisher = imprint.partition(":")
        found.place = found.place or (_tidy(place) if publisher else None)
        found.publisher = _tidy(re.sub(r",?\s*\d{4}.*$", "", publisher or place))


def marc_record(record: Record) -> CatalogueRecord:
    """A catalogue record from a MARC21 record; ValueError naming what is wrong."""
    authors, editors = _names(record)
    place, publisher, date = _imprint(record)
    texts = {
        "title": _title(record),
        "authors": "; ".join(authors + editors),
        "year": date,
        "publisher": publisher,
        "place": place,
        "url": _url(record),
        "isbn": _isbn(record),
        "abstract": "\n\n".join(v.strip() for f in record.get_fields("520") for v in _sub(f, "a")),
        "doi": _doi(record),
    }
    if problem := csvfiles.control_problem(texts, TEXT_FIELDS):
        raise ValueError(problem)
    found = build_record(
        texts["title"],
        authors,
        _year(record, date),
        publisher,
        place,
        texts["url"],
        texts["isbn"],
        texts["abstract"],
        texts["doi"],
    )
    found.kind = _kind(record)
    found.editors = editors
    found.edition = _tidy(_first(record, "250", "a"))
    series = _first(record, "830", "a") or _first(record, "490", "a")
    found.series = _tidy(series.rstrip(".")) if series else None
    found.issn = _issn(record)
    if found.kind == "thesis" and not found.publisher:
        # A thesis is "published" by its university, which the dissertation note names.
        found.publisher = _tidy(_first(record, "502", "c"))
        found.year = found.year or _thesis_year(record)
    _host(record, found)
    return found


def _thesis_year(record: Record) -> int | None:
    match = _YEAR.search(_first(record, "502", "d") or "")
    return int(match[0]) if match else None
