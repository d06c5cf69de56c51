"""An item's structured record as readers see it: what the service or catalogue gave, with a
librarian's corrections laid over it field by field."""

from __future__ import annotations

from typing import Any


def effective_record(
    csl: dict[str, Any] | None, corrections: dict[str, Any] | None
) -> dict[str, Any] | None:
    """The record with each corrected field replacing the one given; a correction to None
    removes a field the service got wrong. None when there is neither."""
    if not csl and not corrections:
        return None
    merged = dict(csl or {})
    for name, value in (corrections or {}).items():
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = value
    return merged
