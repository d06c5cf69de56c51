"""Where a page of the triage list starts: a row's place in the list's order, not a count.

A page found by skipping the rows before it grows slower the further one pages (the database
walks every skipped row again), and it moves under a librarian's feet: accepting the items of
one page takes them out of a "new" list, so skipping a page's worth would hide the next page.
A page that starts just past a row (keyset paging) costs the same at any depth and shows what
follows that row, whatever was decided meanwhile.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, and_, or_

from digest.errors import Invalid
from digest.models import Placement

# The list's order is newest first, and by id among items published at the same moment.
_FORM = re.compile(r"(\d{8}T\d{12})-(\d{1,18})")
_TIME = "%Y%m%dT%H%M%S%f"


@dataclass(frozen=True)
class Cursor:
    """A row's place in the list: its publication date and id."""

    published: datetime
    id: int

    @classmethod
    def of(cls, placement: Placement) -> Cursor:
        return cls(placement.published, placement.id)

    @classmethod
    def parse(cls, text: str) -> Cursor:
        """The cursor `str` wrote; ValueError for anything else."""
        found = _FORM.fullmatch(text.strip())
        if found is None:
            raise Invalid(f"not a place in the list: {text[:40]!r}")
        published = datetime.strptime(found[1], _TIME).replace(tzinfo=UTC)
        return cls(published, int(found[2]))

    def __str__(self) -> str:
        # Digits only (UTC, to the microsecond, as stored): safe in a URL as it is.
        return f"{self.published.astimezone(UTC).strftime(_TIME)}-{self.id}"


def after(query: Select[Any], cursor: Cursor) -> Select[Any]:
    """The rows of `query` (newest first) that come after `cursor`, in the same order."""
    # Written out rather than as a row value: both databases then read it as a range of the
    # date indexes, which end in the id, and stop with the page.
    return query.where(
        Placement.published <= cursor.published,
        or_(
            Placement.published < cursor.published,
            and_(Placement.published == cursor.published, Placement.id < cursor.id),
        ),
    )


def before(query: Select[Any], cursor: Cursor) -> Select[Any]:
    """The rows of `query` that come before `cursor`, nearest first (the list's order
    reversed, so that a limit takes those just before it)."""
    return (
        query.where(
            Placement.published >= cursor.published,
            or_(
                Placement.published > cursor.published,
                and_(Placement.published == cursor.published, Placement.id > cursor.id),
            ),
        )
        .order_by(None)
        .order_by(Placement.published.asc(), Placement.id.asc())
    )
