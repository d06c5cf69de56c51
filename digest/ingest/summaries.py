"""An item's summary: the first sentences of the feed's text, one to three and at most about
300 characters, cut where a sentence ends. The whole text is kept beside it."""

from __future__ import annotations

import html
import re

MAX_CHARS = 300  # about three lines in an email at 600 px
MAX_SENTENCES = 3
# Words that end with a full stop without ending a sentence (compared in lower case).
ABBREVIATIONS = frozenset(
    {
        "e.g", "i.e", "etc", "et al", "al", "cf", "vs", "viz", "approx", "ca", "c",
        "dr", "mr", "mrs", "ms", "mx", "prof", "rev", "sr", "jr", "st", "hon", "sir",
        "no", "nos", "vol", "vols", "p", "pp", "fig", "figs", "eq", "ch", "sec", "ed", "eds",
        "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
        "inc", "ltd", "co", "corp", "dept", "univ", "govt", "u.k", "u.s", "a.m", "p.m",
    }
)  # fmt: skip
# A sentence ends at . ! ? or … (and any closing quote or bracket) before a space, or at a
# CJK full stop, exclamation or question mark, which takes no space after it.
_END = re.compile(r"([.!?…]+)([\"'”’)\]]*)(?=\s)|[。！？]")
_WORD_BEFORE = re.compile(r"([\w.’']+)$")


def _ends_sentence(text: str, match: re.Match[str]) -> bool:
    if match[0] in "。！？":
        return True
    if match[1] == ".":  # not "!", "?", "…" or "...": perhaps an abbreviation
        # A window, not the whole text before: a long text is read once, not once a stop.
        before = _WORD_BEFORE.search(text, max(0, match.start() - 40), match.start())
        word = before[1].lower() if before else ""
        if word in ABBREVIATIONS or word.rstrip(".") in ABBREVIATIONS:
            return False
        if len(word) == 1 and word.isalpha():  # an initial: "J. Smith"
            return False
    following = text[match.end() :].lstrip()
    # A sentence starts with a capital, a digit, a quote or a bracket, not a lower-case word.
    return not following or not following[0].islower()


def sentences(text: str) -> list[str]:
    """`text` cut into sentences (each with its end mark), spaces between them dropped."""
    found, start = [], 0
    for match in _END.finditer(text):
        if _ends_sentence(text, match):
            found.append(text[start : match.end()].strip())
            start = match.end()
    if rest := text[start:].strip():
        found.append(rest)
    return [sentence for sentence in found if sentence]


def shorten(text: str, limit: int = MAX_CHARS) -> str:
    """The first one to three sentences of `text` that fit in `limit` characters; a first
    sentence longer than that is cut at a word, with an ellipsis."""
    text = " ".join(text.split())
    found = sentences(text[: limit + 2])  # past the limit no sentence is taken
    if len(text) <= limit and len(found) <= MAX_SENTENCES:
        return text
    chosen: list[str] = []
    for sentence in found[:MAX_SENTENCES]:
        if len(" ".join([*chosen, sentence])) > limit:
            break
        chosen.append(sentence)
    if chosen:
        return " ".join(chosen)
    cut = text[: limit - 1]
    if " " in cut:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(",;:–— ") + "…"


def summarised(full_html: str, full_text: str) -> tuple[str, str]:
    """The summary shown to readers, as HTML and as its text: the feed's HTML itself when its
    text (`full_text`, the HTML's) is short already (it keeps its links and emphasis), else the
    first sentences as one paragraph of text."""
    short = shorten(full_text)
    if short == " ".join(full_text.split()):
        return full_html, full_text
    return f"<p>{html.escape(short, quote=False)}</p>", short
