"""Feed boilerplate dropped from cleaned summaries: a small table of patterns, one per habit of
a publishing system, applied to `sanitize.sanitize_html`'s uniform output."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

# nh3 writes tags lower-case with double-quoted attributes, so these patterns can be simple.
_ANCHOR = re.compile(r"<a\b([^>]*)>(.*?)</a>", re.DOTALL)
_HREF = re.compile(r'\bhref="([^"]*)"')


def _keep_live_anchor(match: re.Match[str]) -> str:
    """An anchor that leads nowhere a reader can go (no href, `#top`, `mailto:`…) becomes its
    text; the others stay as they are."""
    href = _HREF.search(match[1])
    if href and urlsplit(href[1]).scheme in ("http", "https"):
        return match[0]
    return match[2]


@dataclass(frozen=True)
class Rule:
    name: str
    pattern: re.Pattern[str]
    replacement: str | Callable[[re.Match[str]], str] = ""
    # Words, in lower case, one of which every match contains: a summary with none of them is
    # not searched at all. (A pattern that may start anywhere, as the first two do, costs tens
    # of microseconds a summary; every entry of every poll pays it.)
    clues: tuple[str, ...] = ()


RULES: tuple[Rule, ...] = (
    # WordPress: "<p>The post <a>Title</a> appeared first on <a>Site</a>.</p>"
    Rule(
        "wordpress-appeared-first",
        re.compile(
            r"(?:<p>)?\s*The post\b(?:(?!</p>).){0,600}?\bappeared first on\b"
            r"(?:(?!</p>).){0,400}?(?:</p>|$)",
            re.DOTALL | re.IGNORECASE,
        ),
        clues=("appeared first on",),
    ),
    # ScienceDirect: "Publication date: …", "Source: …", "Author(s): …", each starting a
    # paragraph or a line (after <br>), the label often in bold.
    Rule(
        "sciencedirect-details",
        re.compile(
            r"(?:^|(?<=<br>)|(?<=<p>)|(?<=</p>))\s*(?:<(?:b|strong)>)?\s*"
            r"(?:Publication date|Source|Author\(s\))\s*:\s*(?:</(?:b|strong)>)?"
            r"(?:(?!</p>|<br>).)*(?:<br>)?",
            re.DOTALL | re.IGNORECASE,
        ),
        clues=("publication date", "source", "author(s)"),
    ),
    Rule("dead-anchor", _ANCHOR, _keep_live_anchor),
    # Last: the rules above may leave a paragraph with nothing in it.
    Rule(
        "empty-paragraph",
        re.compile(r"<p>(?:\s|&nbsp;|\xa0|<br>|<span>\s*</span>)*</p>", re.IGNORECASE),
    ),
)


def strip_boilerplate(cleaned: str) -> str:
    """`cleaned` (sanitized HTML) without the boilerplate in `RULES`."""
    lowered = cleaned.lower()
    for rule in RULES:
        if not rule.clues or any(clue in lowered for clue in rule.clues):
            cleaned = rule.pattern.sub(rule.replacement, cleaned)
    return cleaned.strip()
