"""Crossref's REST API answers made into CSL-JSON records: a work (`/works/{doi}`) or a page
of works (`/works?…`, `/journals/{issn}/works?…`). Pure functions, no network.

The record keeps CSL-JSON's names (`title`, `author`, `container-title`, `issued`, …) plus
two of its own, which citation processors ignore: `open-access-url` (see `open_access_url`
for the rule) and `authors-incomplete` (the service listed only the first authors).
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from digest.errors import Invalid
from digest.ingest.urls import reader_link
from digest.research.text import inline_text, jats_text, without_controls

# Crossref's work types (its /types list) -> CSL 1.0.2 types; anything else is a "document".
CSL_TYPES: dict[str, str] = {
    "journal-article": "article-journal",
    "book-chapter": "chapter",
    "book-section": "chapter",
    "book-part": "chapter",
    "book-track": "chapter",
    "book": "book",
    "monograph": "book",
    "edited-book": "book",
    "reference-book": "book",
    "book-set": "book",
    "book-series": "book",
    "proceedings-article": "paper-conference",
    "proceedings": "book",
    "proceedings-series": "book",
    "report": "report",
    "report-series": "report",
    "report-component": "report",
    "posted-content": "article",  # preprints; CSL 1.0.2 has no "preprint" type
    "dataset": "dataset",
    "database": "dataset",
    "dissertation": "thesis",
    "standard": "standard",
    "peer-review": "review",
    "reference-entry": "entry",
    "component": "document",
    "journal": "periodical",
    "journal-volume": "periodical",
    "journal-issue": "periodical",
    "grant": "document",
    "other": "document",
}
# Dates Crossref gives, the one a citation means first: `issued` is the earlier of print and
# online publication; `created` (the deposit) is never a publication date.
_DATE_FIELDS = ("issued", "published-print", "published-online", "published")
_ET_AL = re.compile(r"^\s*(?:et\.?\s*al\.?|and others)\s*$", re.IGNORECASE)
# Licences under which the version of record is open to read and reuse.
_OPEN_LICENCE_HOSTS = ("creativecommons.org",)
_OPEN_VERSIONS = ("vor", "unspecified")


class CrossrefResponseError(Invalid):
    """A response that is not what Crossref sends; the message says what was wrong."""


@dataclass(frozen=True)
class WorkPage:
    """One page of a works list: its records, the cursor for the next page (None at the end)
    and how many works the query matches in all."""

    records: list[dict[str, Any]]
    next_cursor: str | None
    total_results: int


def _message(body: bytes | str, expected_type: str) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise CrossrefResponseError(f"Crossref's answer is not JSON ({error}).") from None
    if not isinstance(data, dict) or not isinstance(data.get("message"), dict):
        raise CrossrefResponseError("Crossref's answer has no 'message' object.")
    if data.get("status") != "ok":
        raise CrossrefResponseError(f"Crossref's answer has status {data.get('status')!r}.")
    if data.get("message-type") != expected_type:
        raise CrossrefResponseError(
            f"Crossref answered with a {data.get('message-type')!r}, not a {expected_type!r}."
        )
    message: dict[str, Any] = data["message"]
    return message


def parse_work(body: bytes | str) -> dict[str, Any]:
    """The CSL-JSON record in a `/works/{doi}` answer; CrossrefResponseError if malformed."""
    return work_to_csl(_message(body, "work"))


def parse_work_list(body: bytes | str) -> WorkPage:
    """The records in a works-list answer, each malformed work skipped alone."""
    message = _message(body, "work-list")
    items = message.get("items")
    if not isinstance(items, list):
        raise CrossrefResponseError("Crossref's work list has no 'items' list.")
    records = [work_to_csl(item) for item in items if isinstance(item, dict) and item.get("DOI")]
    total = message.get("total-results")
    cursor = message.get("next-cursor")
    return WorkPage(
        records=records,
        next_cursor=cursor if isinstance(cursor, str) and items else None,
        total_results=total if isinstance(total, int) else len(records),
    )


def _first(value: Any) -> str:
    """The first string of a Crossref list field (titles come as lists) or the string."""
    if isinstance(value, list):
        value = next((v for v in value if isinstance(v, str) and v.strip()), "")
    return value if isinstance(value, str) else ""


def _name(value: Any) -> str:
    return unicodedata.normalize("NFC", " ".join(value.split())) if isinstance(value, str) else ""


def authors(contributors: Any) -> tuple[list[dict[str, str]], bool]:
    """CSL names from Crossref contributors, and whether an "et al." said the list is cut."""
    names: list[dict[str, str]] = []
    incomplete = False
    for person in contributors if isinstance(contributors, list) else []:
        if not isinstance(person, dict):
            continue
        family, given = _name(person.get("family")), _name(person.get("given"))
        literal = _name(person.get("name"))  # organisations, consortia
        if any(_ET_AL.match(part) for part in (family, given, literal) if part):
            incomplete = True
            continue
        if family:
            name = {"family": family}
            if given:
                name["given"] = given
            if _name(person.get("suffix")):
                name["suffix"] = _name(person.get("suffix"))
            names.append(name)
        elif literal or given:
            names.append({"literal": literal or given})
    return names, incomplete


_MOST = (9999, 12, 31)  # year, month, day: more is no date (a year of 2**40 was once sent)


def date_parts(value: Any) -> dict[str, Any] | None:
    """A CSL date from Crossref's {"date-parts": [[y, m, d]]}; None when it holds no year."""
    if not isinstance(value, dict):
        return None
    parts = value.get("date-parts")
    if not (isinstance(parts, list) and parts and isinstance(parts[0], list)):
        return None
    kept: list[int] = []
    for part in parts[0][:3]:
        # Crossref has sent numbers as strings in old deposits; a null ends the date.
        if isinstance(part, str) and part.isascii() and part.isdigit():
            part = int(part)
        if not isinstance(part, int) or isinstance(part, bool) or not 0 < part <= _MOST[len(kept)]:
            break
        kept.append(part)
    return {"date-parts": [kept]} if kept else None


def open_access_url(work: dict[str, Any]) -> str | None:
    """A link to read the work openly, or None when Crossref does not say it is open.

    Crossref gives no open-access flag, so the rule is: the work carries a Creative Commons
    licence for its version of record (content-version "vor" or "unspecified") that applies
    from publication (no embargo delay). The link is then its full-text link for that version
    (a page before a PDF, text-mining links last), or else its DOI link.
    """
    licences = work.get("license") if isinstance(work.get("license"), list) else []
    open_licence = any(
        isinstance(lic, dict)
        and (urlsplit(str(lic.get("URL", ""))).hostname or "").endswith(_OPEN_LICENCE_HOSTS)
        and lic.get("content-version", "unspecified") in _OPEN_VERSIONS
        and not lic.get("delay-in-days")
        for lic in licences
    )
    if not open_licence:
        return None
    links = [
        link
        for link in (work.get("link") if isinstance(work.get("link"), list) else [])
        if isinstance(link, dict)
        and link.get("content-version", "unspecified") in _OPEN_VERSIONS
        and str(link.get("URL", "")).startswith("https://")
    ]

    def preference(link: dict[str, Any]) -> tuple[bool, bool]:
        return (
            link.get("intended-application") == "text-mining",
            link.get("content-type") == "application/pdf",
        )

    if links:
        return str(min(links, key=preference)["URL"])
    url = work.get("URL")
    return url if isinstance(url, str) and url.startswith("https://") else None


def licence_url(work: dict[str, Any]) -> str | None:
    """The licence of the version of record, else the first licence given."""
    licences = [
        lic
        for lic in (work.get("license") if isinstance(work.get("license"), list) else [])
        if isinstance(lic, dict) and isinstance(lic.get("URL"), str)
    ]
    for lic in licences:
        if lic.get("content-version") == "vor":
            return str(lic["URL"])
    return str(licences[0]["URL"]) if licences else None


def work_to_csl(work: dict[str, Any]) -> dict[str, Any]:
    """A CSL-JSON record from one Crossref work; fields Crossref lacks are left out."""
    doi = _first(work.get("DOI")).strip().lower()
    names, incomplete = authors(work.get("author"))
    editors, _ = authors(work.get("editor"))
    title = inline_text(_first(work.get("title")))
    subtitle = inline_text(_first(work.get("subtitle")))
    if subtitle and title and subtitle.lower() not in title.lower():
        title = f"{title}: {subtitle}"
    record: dict[str, Any] = {
        "id": f"doi:{doi}" if doi else "",
        "type": CSL_TYPES.get(_first(work.get("type")), "document"),
        "title": title,
        "author": names,
        "editor": editors,
        "container-title": inline_text(_first(work.get("container-title"))),
        "container-title-short": inline_text(_first(work.get("short-container-title"))),
        "volume": _first(work.get("volume")).strip(),
        "issue": _first(work.get("issue")).strip(),
        "page": _first(work.get("page")).strip(),
        "number": _first(work.get("article-number")).strip(),
        "publisher": inline_text(_first(work.get("publisher"))),
        "publisher-place": inline_text(_first(work.get("publisher-location"))),
        "DOI": doi,
        # Only a link readers may be given (http or https), as a feed's is kept.
        "URL": reader_link(_first(work.get("URL")).strip()) or "",
        "ISSN": _first(work.get("ISSN")),
        "ISBN": _first(work.get("ISBN")),
        "abstract": jats_text(_first(work.get("abstract"))),
        "license": licence_url(work) or "",
        "open-access-url": open_access_url(work) or "",
        "language": _first(work.get("language")),
    }
    for field in _DATE_FIELDS:
        issued = date_parts(work.get(field))
        if issued:
            record["issued"] = issued
            break
    if incomplete:
        record["authors-incomplete"] = True
    return without_controls(
        {key: value for key, value in record.items() if value not in ("", [], None)}
    )
