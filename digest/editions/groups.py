"""How an edition's items are grouped, the same in the email, the archive and the editor's page:
by section in the newsletter's configured order, then by topic, in the editor's order within."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

OTHER = "Other"  # the heading of items with no section, or no topic

Item = Mapping[str, Any]  # an item as subscribers read it (`compose.snapshot`)
Groups = list[tuple[str, list[tuple[str, list[Any]]]]]


def group_of(item: Item) -> tuple[str, str]:
    """The (section, topic) headings an item is shown under: its section, and the first of its
    topics' labels (they are kept sorted)."""
    labels = item.get("topic_labels") or []
    return item.get("section") or OTHER, labels[0] if labels else OTHER


def _topic_order(label: str) -> tuple[bool, str, str]:
    # Topics read alphabetically, whatever their case or accents ("élan" before "Zoë");
    # "Other" comes last.
    letters = unicodedata.normalize("NFKD", label.casefold())
    return label == OTHER, "".join(c for c in letters if not unicodedata.combining(c)), label


def grouped(items: Sequence[Any]) -> Groups:
    """`items` (in the editor's order) by section, then by topic. Sections come in the
    newsletter's configured order (each item carries its section's place: `section_position`,
    frozen with it at approval); a section without one (an item frozen before places were)
    after those, where its first item is; items with no section last. Topics within a section
    are alphabetical. So moving an item can only change its place within its own group."""
    found: dict[str, dict[str, list[Any]]] = {}
    rank: dict[str, int] = {}
    for item in items:
        section, topic = group_of(item)
        found.setdefault(section, {}).setdefault(topic, []).append(item)
        if item.get("section_position") is not None:
            rank.setdefault(section, item["section_position"])
    appearance = {name: index for index, name in enumerate(found)}

    def section_order(name: str) -> tuple[int, int]:
        if name in rank:
            return 0, rank[name]
        return (2 if name == OTHER else 1), appearance[name]

    return [
        (name, sorted(found[name].items(), key=lambda pair: _topic_order(pair[0])))
        for name in sorted(found, key=section_order)
    ]
