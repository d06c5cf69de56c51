"""Text from the services' marked-up strings: titles with HTML or MathML in them and JATS
abstracts, made into plain text safe to show anywhere and to cite."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from digest.ingest.sanitize import html_to_text

# A chemical formula or an exponent reads right in plain text when its digits become
# Unicode sub- and superscripts ("CO<sub>2</sub>" -> "CO₂"); other content keeps its letters.
_SUB = str.maketrans("0123456789+-=()", "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎")
_SUP = str.maketrans("0123456789+-=()", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾")
_SCRIPT = re.compile(r"<((?:jats:)?(?:sub|sup))(?:\s[^>]*)?>([^<]*)</\1\s*>", re.IGNORECASE)
_SCRIPTABLE = re.compile(r"[0-9+\-=()]+")
_JATS_TITLE = re.compile(r"<(?:jats:)?title(?:\s[^>]*)?>.*?</(?:jats:)?title\s*>", re.I | re.S)
_JATS_PARAGRAPH_END = re.compile(r"</(?:jats:)?(?:p|sec)\s*>", re.IGNORECASE)


def _scripted(match: re.Match[str]) -> str:
    kind, content = match.group(1).lower().removeprefix("jats:"), match.group(2)
    if not _SCRIPTABLE.fullmatch(content):
        return content
    return content.translate(_SUB if kind == "sub" else _SUP)


def inline_text(fragment: str | None) -> str:
    """Plain text of a title or name that may hold HTML, MathML or entities; NFC-normalised."""
    if not fragment:
        return ""
    text = _SCRIPT.sub(_scripted, fragment) if "<" in fragment else fragment
    return unicodedata.normalize("NFC", html_to_text(text))


def jats_text(fragment: str | None) -> str:
    """Plain text of a JATS abstract: its heading dropped, a blank line between paragraphs."""
    if not fragment:
        return ""
    body = _JATS_TITLE.sub("", fragment)
    paragraphs = (inline_text(part) for part in _JATS_PARAGRAPH_END.split(body))
    return "\n\n".join(p for p in paragraphs if p)


# C0 control characters but tab and line breaks: PostgreSQL refuses NUL in text, and none of
# them belongs in a title or a name.
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def without_controls(value: Any) -> Any:
    """`value` (a record, or any part of one) with control characters taken out of its text."""
    if isinstance(value, str):
        return _CONTROLS.sub("", value)
    if isinstance(value, list):
        return [without_controls(v) for v in value]
    if isinstance(value, dict):
        return {k: without_controls(v) for k, v in value.items()}
    return value
