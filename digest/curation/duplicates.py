"""Possible duplicates: two items that look like one publication, for a librarian to merge or
keep apart. A merge keeps every source, is audited, and can be undone (split).

Merging item B into item A moves B's sources to A, and B's place in each newsletter that A is
not in yet; B stays in the database, hidden and pointing at A, so that later polls of B's
address find A, and so that a split can give B back exactly what it had.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, selectinload

from digest import audit
from digest.curation.decisions import DecisionError
from digest.curation.items import get_item
from digest.errors import NotFound
from digest.models import (
    DuplicateState,
    Edition,
    EditionItem,
    EditionState,
    Item,
    ItemSource,
    ItemStatus,
    Placement,
    PlacementTopic,
    PossibleDuplicate,
    TopicSource,
)
from digest.timeutil import utcnow

BY_HAND = "merged by a librarian"


@dataclass(frozen=True)
class Pair:
    """A possible duplicate with both its items, as the side-by-side page shows them."""

    row: PossibleDuplicate
    first: Item
    second: Item


def waiting(session: Session, limit: int = 200) -> list[Pair]:
    """Possible duplicates no librarian has decided on, newest first."""
    rows = session.scalars(
        select(PossibleDuplicate)
        .where(PossibleDuplicate.state == DuplicateState.OPEN)
        .order_by(PossibleDuplicate.found_at.desc(), PossibleDuplicate.id.desc())
        .options(selectinload(PossibleDuplicate.item), selectinload(PossibleDuplicate.other))
        .limit(limit)
    )
    return [
        Pair(row, row.item, row.other)
        for row in rows
        if row.item.merged_into_id is None and row.other.merged_into_id is None
    ]


def get_pair(session: Session, pair_id: int) -> Pair:
    row = session.get(PossibleDuplicate, pair_id)
    if row is None:
        raise NotFound(f"no possible duplicate {pair_id}")
    return Pair(row, row.item, row.other)


def history(session: Session, item_id: int) -> list[PossibleDuplicate]:
    """Merges into or out of an item, newest first: what can be split again."""
    return list(
        session.scalars(
            select(PossibleDuplicate)
            .where(
                PossibleDuplicate.state == DuplicateState.MERGED,
                (PossibleDuplicate.item_id == item_id) | (PossibleDuplicate.other_id == item_id),
            )
            .order_by(PossibleDuplicate.decided_at.desc())
        )
    )


def _in_edition(session: Session, item_id: int, newsletter_ids: list[int]) -> Edition | None:
    """An uncancelled edition of those newsletters that holds the item."""
    return session.scalar(
        select(Edition)
        .join(EditionItem)
        .where(
            EditionItem.item_id == item_id,
            Edition.newsletter_id.in_(newsletter_ids),
            Edition.state != EditionState.CANCELLED,
        )
        .limit(1)
    )


def _decided(row: PossibleDuplicate, state: DuplicateState, actor: str) -> None:
    row.state, row.decided_by, row.decided_at = state, actor, utcnow()


def merge(session: Session, pair_id: int, keep_id: int, actor: str) -> Item:
    """Merge the pair's other item into `keep_id`, one of the two; returns the item kept."""
    pair = get_pair(session, pair_id)
    if pair.row.state is not DuplicateState.OPEN:
        raise DecisionError(f"these two were already {pair.row.state.value}")
    if keep_id not in (pair.first.id, pair.second.id):
        raise DecisionError("keep one of the two items being compared")
    keep, gone = (
        (pair.first, pair.second) if keep_id == pair.first.id else (pair.second, pair.first)
    )
    for item in (keep, gone):
        if item.merged_into_id is not None:
            raise DecisionError(
                f"item {item.id} was already merged into item {item.merged_into_id}"
            )
    newsletters = [p.newsletter_id for p in gone.placements]
    if edition := _in_edition(session, gone.id, newsletters):
        raise DecisionError(
            f"item {gone.id} is in the {edition.state.value} edition “{edition.subject}”: take "
            f"it out first, or keep item {gone.id} instead"
        )
    kept_newsletters = {p.newsletter_id for p in keep.placements}
    moved_sources = [source.id for source in gone.sources]
    moved_placements = [p.id for p in gone.placements if p.newsletter_id not in kept_newsletters]
    session.execute(
        update(ItemSource).where(ItemSource.id.in_(moved_sources)).values(item_id=keep.id)
    )
    session.execute(
        update(Placement)
        .where(Placement.id.in_(moved_placements))
        .values(item_id=keep.id, published=keep.published)
    )
    gone.merged_into_id = keep.id
    pair.row.merged = {
        "kept": keep.id,
        "merged": gone.id,
        "sources": moved_sources,
        "placements": moved_placements,
        "combined": _combine(keep, gone),
    }
    _decided(pair.row, DuplicateState.MERGED, actor)
    audit.record(
        session,
        actor=actor,
        action=audit.Action.ITEM_MERGE,
        object_type=audit.ObjectType.ITEM,
        object_id=keep.id,
        summary=keep.title,
        before={"merged_item": gone.id, "title": gone.title, "url": gone.link},
        after=pair.row.merged,
    )
    session.flush()
    session.expire_all()
    return get_item(session, keep.id)


def _combine(keep: Item, gone: Item) -> list[dict[str, Any]]:
    """Where both items are in a newsletter, what librarians decided on the merged one is not
    lost: a decision replaces "new", and topics chosen by hand are added. Returns what each
    kept placement was before, for a split to put back."""
    theirs = {p.newsletter_id: p for p in gone.placements}
    combined = []
    for placement in keep.placements:
        other = theirs.get(placement.newsletter_id)
        if other is None:
            continue
        before = {
            "placement": placement.id,
            "status": placement.status.value,
            "section_id": placement.section_id,
            "added_topics": [],
        }
        if placement.status is ItemStatus.NEW and other.status is not ItemStatus.NEW:
            placement.status, placement.section_id = other.status, other.section_id
        present = {link.topic_id for link in placement.topic_links}
        for link in other.topic_links:
            if link.source is TopicSource.MANUAL and link.topic_id not in present:
                placement.topic_links.append(
                    PlacementTopic(
                        topic_id=link.topic_id,
                        source=TopicSource.MANUAL,
                        added_by=link.added_by,
                        added_at=link.added_at,
                    )
                )
                before["added_topics"].append(link.topic_id)
        combined.append(before)
    return combined


def _uncombine(session: Session, combined: list[dict[str, Any]]) -> None:
    for before in combined:
        placement = session.get(Placement, before["placement"])
        if placement is None:
            continue
        placement.status = ItemStatus(before["status"])
        placement.section_id = before["section_id"]
        placement.topic_links = [
            link for link in placement.topic_links if link.topic_id not in before["added_topics"]
        ]


def merge_by_hand(session: Session, keep_id: int, gone_id: int, actor: str) -> Item:
    """Merge any item into another, as a librarian found them (no possible duplicate needed)."""
    if keep_id == gone_id:
        raise DecisionError("an item cannot be merged into itself")
    keep, gone = get_item(session, keep_id), get_item(session, gone_id)
    first, second = sorted((keep.id, gone.id))
    row = session.scalar(
        select(PossibleDuplicate).where(
            PossibleDuplicate.item_id == first, PossibleDuplicate.other_id == second
        )
    )
    if row is None:
        row = PossibleDuplicate(item_id=first, other_id=second, reason=BY_HAND)
        session.add(row)
    elif row.state is DuplicateState.DIFFERENT:
        row.state = DuplicateState.OPEN  # a librarian changed their mind: allowed, and audited
    session.flush()
    return merge(session, row.id, keep.id, actor)


def split(session: Session, pair_id: int, actor: str) -> Item:
    """Undo a merge: the merged item gets back the sources and places it brought, and the two
    are marked different so they are not proposed again. Returns the item split off."""
    pair = get_pair(session, pair_id)
    record: dict[str, Any] | None = pair.row.merged
    if pair.row.state is not DuplicateState.MERGED or not record:
        raise DecisionError("these two were not merged")
    keep, gone = get_item(session, record["kept"]), get_item(session, record["merged"])
    placements = list(
        session.scalars(
            select(Placement).where(
                Placement.id.in_(record["placements"]), Placement.item_id == keep.id
            )
        )
    )
    if edition := _in_edition(session, keep.id, [p.newsletter_id for p in placements]):
        raise DecisionError(
            f"item {keep.id} is in the {edition.state.value} edition “{edition.subject}” "
            f"through what item {gone.id} brought: take it out first"
        )
    session.execute(
        update(ItemSource)
        .where(ItemSource.id.in_(record["sources"]), ItemSource.item_id == keep.id)
        .values(item_id=gone.id)
    )
    session.execute(
        update(Placement)
        .where(Placement.id.in_([p.id for p in placements]))
        .values(item_id=gone.id, published=gone.published)
    )
    _uncombine(session, record.get("combined", []))
    gone.merged_into_id = None
    _decided(pair.row, DuplicateState.DIFFERENT, actor)
    audit.record(
        session,
        actor=actor,
        action=audit.Action.ITEM_SPLIT,
        object_type=audit.ObjectType.ITEM,
        object_id=gone.id,
        summary=gone.title,
        before={"merged_into": keep.id},
        after={"sources": record["sources"], "placements": [p.id for p in placements]},
    )
    session.flush()
    session.expire_all()
    return get_item(session, gone.id)


def mark_different(session: Session, pair_id: int, actor: str) -> None:
    """Two publications that only look alike: keep both, and do not propose them again."""
    pair = get_pair(session, pair_id)
    if pair.row.state is not DuplicateState.OPEN:
        raise DecisionError(f"these two were already {pair.row.state.value}")
    _decided(pair.row, DuplicateState.DIFFERENT, actor)
    audit.record(
        session,
        actor=actor,
        action=audit.Action.ITEM_DIFFERENT,
        object_type=audit.ObjectType.ITEM,
        object_id=pair.first.id,
        summary=pair.first.title,
        after={"different_from": pair.second.id},
    )
