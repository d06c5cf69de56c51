"""Citations of items in a newsletter's CSL style, as safe HTML and plain text, and RIS and
BibTeX exports of an edition's items.

An item is rendered from its CSL record (`records.item_record`) by `render.render`; an item
stored before records were kept, with only the text of a citation, shows that text.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from markupsafe import Markup, escape

from digest.citations.records import item_record
from digest.citations.rendering import Rendered, render
from digest.citations.styles import DEFAULT_STYLE, UnknownStyle, check_style

if TYPE_CHECKING:
    from digest.models import Item

__all__ = [
    "DEFAULT_STYLE",
    "Rendered",
    "UnknownStyle",
    "check_style",
    "item_citation",
    "item_citations",
    "render",
]
log = logging.getLogger(__name__)


def item_citation(item: Item, style: str | None) -> Rendered | None:
    """The item's citation in `style` (None: the default), or its stored citation text when
    it has no record to render; None when there is too little to cite. A record the
    processor cannot render is logged and shown by its stored text, never failing a page or
    an email."""
    record = item_record(item)
    if record is not None:
        try:
            return render(record, style or DEFAULT_STYLE)
        except Exception:  # one odd record must not stop an edition: logged, shown without
            log.exception("item %s: its citation could not be rendered", item.id)
    if item.citation:
        return Rendered(Markup(escape(item.citation)), item.citation)
    return None


def item_citations(item: Item) -> list[tuple[str, Rendered]]:
    """The item's citation in the style of each newsletter it is placed in, each style once,
    named by the newsletters that use it; the default style when it is placed in none."""
    styles: dict[str, list[str]] = {}
    for placement in item.placements:
        style = placement.newsletter.citation_style or DEFAULT_STYLE
        styles.setdefault(style, []).append(placement.newsletter.title)
    found = []
    for style, titles in (styles or {DEFAULT_STYLE: []}).items():
        cited = item_citation(item, style)
        if cited is not None:
            found.append((", ".join(titles), cited))
    return found
