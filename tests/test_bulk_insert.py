"""Rows written in bulk through the driver read back exactly as rows written by SQLAlchemy
(aware timestamps, JSON lists, enums, non-ASCII text, left-out columns' defaults), and a lookup
by thousands of keys finds exactly those."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import insert, select

from digest.bulk import insert_rows
from digest.db import one_of, transaction
from digest.models import Item, Newsletter, Placement

SUMMER = datetime(2026, 7, 1, 9, 30, 15, 123456, tzinfo=timezone(timedelta(hours=1)))


def _item_row(n: int, title: str) -> dict:
    return {
        "id": n,
        "title": title,
        "title_key": title.casefold(),
        "authors": ["Jütte, S.", "O’Brien, Á."],
        "published": SUMMER,
        "published_estimated": True,
        "summary_html": "<p>Ça va — 児童保護</p>",
        "summary_text": "Ça va — 児童保護",
        "content_hash": f"{n:064d}",
    }


def _read(session, item_id: int) -> tuple:
    item = session.get(Item, item_id)
    placement = session.scalar(select(Placement).where(Placement.item_id == item_id))
    return (
        item.title,
        item.authors,
        item.published,
        item.published_estimated,
        item.summary_text,
        item.first_seen_at is not None,
        item.merged_into_id,
        placement.status,
        placement.published,
    )


def test_bulk_rows_read_back_as_sqlalchemy_writes_them(factory) -> None:
    with transaction(factory) as session:
        newsletter_id = session.scalar(select(Newsletter.id).limit(1))
        session.execute(insert(Item.__table__), [_item_row(900_001, "Ärger im Kinderschutz")])
        insert_rows(session, Item.__table__, [_item_row(900_002, "Ärger im Kinderschutz")])
        for n, write in ((900_001, "core"), (900_002, "bulk")):
            row = {
                "item_id": n,
                "newsletter_id": newsletter_id,
                "status": "new",
                "first_seen_at": datetime.now(UTC),
                "published": SUMMER,
            }
            if write == "core":
                session.execute(insert(Placement.__table__), [row])
            else:
                insert_rows(session, Placement.__table__, [row])
    with factory() as session:
        by_core, by_bulk = _read(session, 900_001), _read(session, 900_002)
    assert by_bulk == by_core
    assert by_bulk[2] == SUMMER and by_bulk[2].tzinfo is not None
    assert by_bulk[1] == ["Jütte, S.", "O’Brien, Á."]


def test_bulk_insert_is_part_of_the_transaction(factory) -> None:
    """A failure later in the same transaction takes the bulk rows back with it."""
    try:
        with transaction(factory) as session:
            insert_rows(session, Item.__table__, [_item_row(900_003, "Rolled back")])
            raise RuntimeError("a later step failed")
    except RuntimeError:
        pass
    with factory() as session:
        assert session.get(Item, 900_003) is None


@pytest.mark.parametrize("count", [0, 1, 1_400])
def test_lookup_by_many_keys_finds_exactly_those(factory, count: int) -> None:
    """`one_of` matches the listed keys and no others, whatever their number or script."""
    with transaction(factory) as session:
        insert_rows(
            session,
            Item.__table__,
            [_item_row(910_000 + n, f"Kinderschutz {n} — 児童") for n in range(3_000)],
        )
    wanted = [f"kinderschutz {n} — 児童" for n in range(0, 2 * count, 2)]
    with factory() as session:
        found = set(session.scalars(select(Item.id).where(one_of(session, Item.title_key, wanted))))
        by_id = set(
            session.scalars(
                select(Item.id).where(one_of(session, Item.id, [910_000 + n for n in range(count)]))
            )
        )
    assert found == {910_000 + n for n in range(0, 2 * count, 2)}
    assert by_id == {910_000 + n for n in range(count)}
