"""A CSL record rendered as one reference in a style, as safe HTML (italics kept) and as plain
text, by citeproc-py with the corrections of `_patches` and the small pre- and
post-processing below, which give citeproc-js's typography.

Before rendering, each text field is HTML-escaped (citeproc-py's HTML output does not escape
the record's own text) and the markup citeproc-js understands in a field (<i>, <b>, <sup>,
<sub>) becomes private-use marks that survive rendering; quotation marks around words, "…"
or '…', are marked, and other apostrophes become ’, as citeproc-js does. After it, the marks
become tags (an italic inside italics is set upright, as citeproc-js does) or quotes (the
locale's inner ones inside a quotation), "?." becomes "?", a numbered style's "1." is
dropped, and nh3 keeps only a citation's markup (<i>, <b>, <sup>, <sub>, <span style>). The
plain text is the HTML without its tags.
"""

from __future__ import annotations

import html
import json
import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import nh3
from citeproc import Citation, CitationItem, CitationStylesBibliography, formatter
from citeproc.source.json import CiteProcJSON
from markupsafe import Markup

from digest.citations import _patches
from digest.citations.styles import is_numeric, parsed_style, style_locale

_patches.apply()
# citeproc-py keeps a reference's state on the parsed style it shares: one render at a time.
_LOCK = threading.Lock()

_MARKS = {
    "i": "\ue010",
    "/i": "\ue011",
    "b": "\ue012",
    "/b": "\ue013",
    "sup": "\ue014",
    "/sup": "\ue015",
    "sub": "\ue016",
    "/sub": "\ue017",
}
_SYNONYMS = {"em": "i", "strong": "b"}
_FIELD_TAG = re.compile(r"<(/?)(i|em|b|strong|sup|sub)\s*>", re.IGNORECASE)
_ANY_TAG = re.compile(r"</?[a-zA-Z][^<>]*>")
_OPEN_Q, _CLOSE_Q, _APOSTROPHE = "\ue020", "\ue021", "\ue022"
_DOUBLE_QUOTED = re.compile(r'"([^"]*)"')
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")
_NUMBER = re.compile(r"^\s*(?:\[1\]|1\.?)\s*")
_COLLISION = re.compile(r"([?!])((?:</[a-z]+>)*)\.")
_TAG = re.compile(r"<[^>]+>")
_QUOTES = {"en-GB": ("‘", "’", "“", "”"), "en-US": ("“", "”", "‘", "’")}
_KEPT_TAGS = {"i", "b", "sup", "sub", "span"}
_NAMES = {
    "author",
    "editor",
    "translator",
    "container-author",
    "collection-editor",
    "composer",
    "director",
    "editorial-director",
    "illustrator",
    "interviewer",
    "original-author",
    "recipient",
    "reviewed-author",
}
_DATES = {"issued", "accessed", "event-date", "original-date", "submitted"}
_RAW_DATE = re.compile(r"^\s*(\d{4})(?:-(\d{1,2}))?(?:-(\d{1,2}))?")
_AS_GIVEN = {"id", "type"}  # names the processor reads, never printed
_SKIP = {"DOI", "URL", "ISBN", "ISSN", "PMID", "PMCID"}


@dataclass(frozen=True)
class Rendered:
    """A citation as safe HTML (the style's italics) and as plain text."""

    html: Markup  # safe to put in a page or an email as it is
    text: str


def _field(value: str) -> str:
    """A text field escaped and marked for rendering (see the module's docstring)."""
    value = _FIELD_TAG.sub(
        lambda m: _MARKS[m[1] + _SYNONYMS.get(m[2].lower(), m[2].lower())], value
    )
    for tag in ("i", "b", "sup", "sub"):  # an unclosed tag would run on past the field
        opening, closing = _MARKS[tag], _MARKS[f"/{tag}"]
        if value.count(opening) != value.count(closing):
            value = value.replace(opening, "").replace(closing, "")
    value = html.escape(_ANY_TAG.sub("", value), quote=False).replace("’", _APOSTROPHE)
    value = _DOUBLE_QUOTED.sub(lambda m: f"{_OPEN_Q}{m[1]}{_CLOSE_Q}", value)
    return _single_quotes(value)


def _single_quotes(value: str) -> str:
    """'…' around words is a quotation, as citeproc-js reads it; any other ' is an
    apostrophe ("people's", "parents' drinking", "'90s")."""
    out: list[str] = []
    opened = None
    for i, ch in enumerate(value):
        if ch != "'":
            out.append(ch)
            continue
        before = value[i - 1] if i else " "
        after = value[i + 1] if i + 1 < len(value) else " "
        if opened is None and not before.isalnum() and after.isalnum():
            opened = len(out)
            out.append(_OPEN_Q)
        elif opened is not None and not after.isalnum():
            out.append(_CLOSE_Q)
            opened = None
        else:
            out.append(_APOSTROPHE)
    if opened is not None:  # never closed: it was an apostrophe after all
        out[opened] = _APOSTROPHE
    return "".join(out)


def _name(name: dict[str, Any]) -> dict[str, Any]:
    """A name's parts as `_field` makes them; a CJK name whole, as one literal."""
    # citeproc-js writes a Chinese, Japanese or Korean name whole, family name first.
    if _CJK.search(name.get("family", "") + name.get("given", "")):
        return {"literal": _field(name.get("family", "") + name.get("given", ""))}
    return {k: _field(v) if isinstance(v, str) else v for k, v in name.items()}


def prepared(record: dict[str, Any]) -> dict[str, Any]:
    """The record as citeproc-py is given it (see the module's docstring); what citeproc-py
    cannot read (a date of [[null]], names that are not a list of names) is left out."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        if key in _DATES:
            value = clean_date(value)
        elif key in _NAMES:
            names = value if isinstance(value, list) else []
            whole = names and all(isinstance(n, dict) for n in names)
            value = [_name(n) for n in names] if whole else None
        elif isinstance(value, str) and key in _AS_GIVEN:
            pass
        elif isinstance(value, str) and key in _SKIP:
            # Printed as they are (no marks, no quotes), but escaped like all text: a link or
            # DOI from outside may hold markup.
            value = html.escape(value, quote=False)
        elif isinstance(value, str):
            value = _field(value)
        elif isinstance(value, (dict, list)):
            value = None
        if value is not None and value != "":
            out[key] = value
    out["id"] = "item"
    return out


def clean_date(value: Any) -> dict[str, Any] | None:
    """A CSL date citeproc-py can read: whole-number parts of its first date (a range is cited
    by its start), else the year, month and day of a "raw" date, else its literal text."""
    if not isinstance(value, dict):
        return None
    first = (value.get("date-parts") or [[]])[0] or []
    parts: list[int] = []
    for part in first if isinstance(first, list) else []:
        try:
            parts.append(int(part))
        except (TypeError, ValueError):
            break
    if not parts and (raw := _RAW_DATE.match(str(value.get("raw") or ""))):
        parts = [int(p) for p in raw.groups() if p]
    if parts:
        return {"date-parts": [parts]}
    literal = value.get("literal")
    return {"literal": _field(literal)} if isinstance(literal, str) and literal.strip() else None


def _finish(rendered: str, locale: str, numeric: bool) -> str:
    """citeproc-py's entry with the marks resolved and citeproc-js's typography."""
    if numeric:
        rendered = _NUMBER.sub("", rendered, count=1)
    outer_open, outer_close, inner_open, inner_close = _QUOTES.get(locale, _QUOTES["en-US"])
    out, depth, italic = [], 0, 0
    for i, ch in enumerate(rendered):
        # The style's own quotes (apostrophes are still marks here, so ’ closes a quote).
        if ch == outer_open:
            depth += 1
        elif ch == outer_close and depth:
            depth -= 1
        if rendered.startswith("<i>", i):
            italic += 1
        elif rendered.startswith("</i>", i):
            italic -= 1
        if ch == _OPEN_Q:
            ch = inner_open if depth % 2 else outer_open
            depth += 1
        elif ch == _CLOSE_Q:
            depth -= 1
            ch = inner_close if depth % 2 else outer_close
        elif ch == _MARKS["i"]:
            ch = '<span style="font-style:normal;">' if italic else "<i>"
        elif ch == _MARKS["/i"]:
            ch = "</span>" if italic else "</i>"
        elif ch in _UNMARK:
            ch = _UNMARK[ch]
        out.append(ch)
    text = "".join(out)
    return " ".join(_COLLISION.sub(r"\1\2", text).split())


_UNMARK = {mark: f"<{tag}>" for tag, mark in _MARKS.items() if tag not in ("i", "/i")}
_UNMARK[_APOSTROPHE] = "’"


def render(record: dict[str, Any], style: str) -> Rendered:
    """The record as one reference in `style` (a name `styles.check_style` accepts)."""
    return _render(style, json.dumps(record, sort_keys=True, ensure_ascii=False, default=str))


# A draft's page shows its items' citations at each visit: the last thousands are kept.
@lru_cache(maxsize=4096)
def _render(style: str, record_json: str) -> Rendered:
    """`render` of a record given as JSON, so that it can be cached."""
    parsed = parsed_style(style)
    source = CiteProcJSON([prepared(json.loads(record_json))])
    with _LOCK:
        bibliography = CitationStylesBibliography(parsed, source, formatter.html)
        bibliography.register(Citation([CitationItem("item")]))
        entry = str(bibliography.bibliography()[0])
    finished = _finish(entry, style_locale(style), is_numeric(style))
    # Only the markup a citation has, whatever reached the output: tags closed, the rest
    # escaped (the record's text was escaped before; this is the second lock on the door).
    # The one style a citation sets is an upright span inside italics.
    finished = nh3.clean(
        finished,
        tags=_KEPT_TAGS,
        attributes={"span": {"style"}},
        filter_style_properties={"font-style"},
    )
    return Rendered(Markup(finished), html.unescape(_TAG.sub("", finished)))
