"""Harvard-style citations, as the NSPCC library writes them:

Jütte, S. (2016) Online child sexual abuse images: doing more to tackle demand and supply.
London: NSPCC.
"""

from __future__ import annotations

import re

_INITIAL_SPLIT = re.compile(r"[\s.]+")


def short_author(name: str) -> str:
    """`Jütte, Sonja` → `Jütte, S.`; a name without a comma (an organisation) stays as it is."""
    name = " ".join(name.split())
    if "," not in name:
        return name
    surname, _, forenames = name.partition(",")
    initials = "".join(
        f"{part[0].upper()}."
        for chunk in _INITIAL_SPLIT.split(forenames)
        if chunk
        for part in chunk.split("-")
        if part
    )
    return f"{surname.strip()}, {initials}" if initials else surname.strip()


def author_list(authors: list[str]) -> str:
    names = [short_author(a) for a in authors if a.strip()]
    if len(names) > 3:
        return f"{names[0]} et al."
    if len(names) > 1:
        return ", ".join(names[:-1]) + " and " + names[-1]
    return names[0] if names else ""


def harvard_citation(
    authors: list[str],
    year: int | None,
    title: str,
    place: str | None = None,
    publisher: str | None = None,
) -> str:
    who = author_list(authors) or (publisher or "")
    parts = [f"{who} ({year or 'n.d.'})" if who else f"({year or 'n.d.'})"]
    parts.append(title.strip().rstrip(".") + ".")
    if place and publisher:
        parts.append(f"{place.strip()}: {publisher.strip()}.")
    elif publisher or place:
        parts.append(f"{(publisher or place or '').strip()}.")
    return " ".join(parts)
