"""What the archive's search reads, written once when an edition is approved.

An approved edition no longer changes (its items are frozen; it must be un-approved to be
edited), so the words and topics a search looks at are kept beside it then, instead of being
read out of every frozen item on every search: five years of editions hold tens of thousands.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def edition_words(subject: str, intro: str, items: Iterable[dict[str, Any]]) -> str:
    """The distinct words of the subject, introduction and items' titles and summaries,
    casefolded, each with a space either side. A typed word (which holds no space) is inside
    the edition's text exactly when it is inside one of these: the search keeps matching
    parts of words, as it always has, in a few kilobytes instead of the whole text."""
    parts = [subject, intro]
    for item in items:
        parts += [item["title"], item["summary_text"]]
    return f" {' '.join(sorted(set(' '.join(parts).casefold().split())))} "


def item_topics(item: dict[str, Any]) -> str:
    """The slugs of a frozen item's topics, each with a space either side, so that a search
    for one slug never matches another that contains it."""
    return f" {' '.join(item['topics'])} "


def edition_topics(item_topics: Iterable[str | None]) -> str:
    """The slugs of every topic an edition's items carry, each once, marked as `item_topics`
    marks them: the archive finds the editions about a topic from this one value, instead of
    reading each edition's items."""
    slugs = sorted({slug for topics in item_topics for slug in (topics or "").split()})
    return f" {' '.join(slugs)} "


def topic_marker(slug: str) -> str:
    """What `item_topics` holds for `slug`."""
    return f" {slug} "
