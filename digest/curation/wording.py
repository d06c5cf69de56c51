"""A summary as a librarian edits it: the stored HTML shown as plain text, with its paragraphs
and line breaks, and typed text stored as safe HTML that shows the same paragraphs."""

from __future__ import annotations

import html
import re

from digest.ingest.sanitize import html_to_text, sanitize_html

# Where a block of stored HTML ends (a paragraph, a list item, a heading…) and where a line
# breaks inside one: the text keeps a blank line for the first, a line break for the second.
_BLOCK_END = re.compile(
    r"</(?:p|li|h[1-6]|blockquote|pre|tr|dd|dt|figcaption|caption|ul|ol|dl|table|div)\s*>"
    r"|<hr\b[^>]*>",
    re.IGNORECASE,
)
_LINE_BREAK = re.compile(r"<br\b[^>]*>", re.IGNORECASE)
_PARAGRAPH_GAP = re.compile(r"\n[ \t\r\f\v]*\n\s*")


def editable_text(summary_html: str) -> str:
    """The plain text a person edits: paragraphs apart by a blank line, line breaks kept,
    tags dropped and entities decoded."""
    paragraphs = []
    for block in _BLOCK_END.split(summary_html or ""):
        lines = [html_to_text(line) for line in _LINE_BREAK.split(block)]
        if paragraph := "\n".join(line for line in lines if line):
            paragraphs.append(paragraph)
    return "\n\n".join(paragraphs)


def normal_text(text: str) -> str:
    """Typed text as it will be kept: each line's spaces collapsed, blank lines between
    paragraphs made one, nothing at either end."""
    paragraphs = []
    for block in _PARAGRAPH_GAP.split(text.replace("\r\n", "\n").replace("\r", "\n")):
        lines = [" ".join(line.split()) for line in block.split("\n")]
        if paragraph := "\n".join(line for line in lines if line):
            paragraphs.append(paragraph)
    return "\n\n".join(paragraphs)


def text_to_html(text: str, base_url: str | None = None) -> str:
    """Typed text as stored HTML: every character escaped (what is typed is shown, never
    run), a paragraph for each block, a <br> for each line break; then cleaned like a feed's."""
    paragraphs = normal_text(text).split("\n\n")
    marked = "".join(
        "<p>" + "<br>".join(html.escape(line, quote=False) for line in p.split("\n")) + "</p>"
        for p in paragraphs
        if p
    )
    return sanitize_html(marked, base_url)


def edited_summary(stored_html: str, typed: str, base_url: str | None = None) -> str:
    """The summary to store after an edit: the stored HTML itself when the text was left as it
    was (its links and emphasis are kept), else the typed text as HTML."""
    if normal_text(typed) == normal_text(editable_text(stored_html)):
        return stored_html
    return text_to_html(typed, base_url)
