"""Deciding on items: accept, reject, place, tag, rewrite, delete. Each change is audited.

Status, section and topics are one newsletter's decision (a placement); the wording is the
item's own, shared by every newsletter that has it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from digest import audit
from digest.curation.items import get_item, get_placement
from digest.curation.wording import edited_summary
from digest.errors import Refused
from digest.ingest.sanitize import html_to_text, sanitize_html
from digest.ingest.store import delete_item
from digest.models import (
    Item,
    ItemStatus,
    Placement,
    PlacementTopic,
    Section,
    Topic,
    TopicSource,
)
from digest.timeutil import utcnow


class DecisionError(Refused, ValueError):
    """A change that cannot be made; the message says why."""


# The log names the status an item was given, as it always has: item.<status>.
_STATUS_ACTIONS: dict[ItemStatus, audit.Action] = {
    ItemStatus.NEW: audit.Action.ITEM_NEW,
    ItemStatus.ACCEPTED: audit.Action.ITEM_ACCEPTED,
    ItemStatus.REJECTED: audit.Action.ITEM_REJECTED,
}


def _record(
    session: Session,
    actor: str,
    action: audit.Action,
    placement: Placement,
    before: dict[str, object] | None = None,
    after: dict[str, object] | None = None,
) -> None:
    """An audit entry for one newsletter's decision on an item."""
    audit.record(
        session,
        actor=actor,
        action=action,
        object_type=audit.ObjectType.ITEM,
        object_id=placement.item_id,
        summary=placement.item.title,
        before=before,
        after={"newsletter": placement.newsletter.slug, **(after or {})},
    )


def set_status(
    session: Session, placement_ids: Iterable[int], status: ItemStatus, actor: str
) -> list[Placement]:
    placements = [get_placement(session, placement_id) for placement_id in placement_ids]
    for placement in placements:
        if placement.status is status:
            continue
        before = placement.status
        placement.status = status
        _record(
            session,
            actor,
            _STATUS_ACTIONS[status],
            placement,
            before={"status": before.value},
            after={"status": status.value},
        )
    return placements


def _section(session: Session, section_id: int) -> Section:
    section = session.get(Section, section_id)
    if section is None:
        raise DecisionError(f"no section with id {section_id}")
    return section


def place(session: Session, placement_id: int, section_id: int, actor: str) -> Placement:
    """Put an item in another section of the same newsletter."""
    placement = get_placement(session, placement_id)
    section = _section(session, section_id)
    if section.newsletter_id != placement.newsletter_id:
        raise DecisionError(
            f"the section {section.name!r} belongs to {section.newsletter.title}, not "
            f"{placement.newsletter.title}: offer the item to that newsletter instead"
        )
    before = {"section": placement.section.name if placement.section else None}
    placement.section_id = section.id
    session.flush()
    session.refresh(placement)
    _record(
        session,
        actor,
        audit.Action.ITEM_PLACE,
        placement,
        before=before,
        after={"section": section.name},
    )
    return placement


def offer(session: Session, item_id: int, section_id: int, actor: str) -> Placement:
    """Offer an item to one more newsletter, in one of its sections, as new for its triage."""
    item = get_item(session, item_id)
    section = _section(session, section_id)
    if any(p.newsletter_id == section.newsletter_id for p in item.placements):
        raise DecisionError(f"the item is already in {section.newsletter.title}")
    placement = Placement(
        newsletter_id=section.newsletter_id,
        section_id=section.id,
        first_seen_at=utcnow(),
        published=item.published,
    )
    item.placements.append(placement)
    session.flush()
    session.refresh(placement)
    _record(session, actor, audit.Action.ITEM_OFFER, placement, after={"section": section.name})
    return placement


def set_topics(
    session: Session,
    placement_ids: Iterable[int],
    topic_ids: Sequence[int],
    actor: str,
    replace: bool = True,
) -> None:
    """Tag items in a newsletter. With `replace`, the chosen topics become the whole set;
    chosen topics are marked manual, and unconfirmed suggestions that were not chosen are
    dropped."""
    topics = {t.id: t for t in session.scalars(select(Topic).where(Topic.id.in_(topic_ids)))}
    if missing := set(topic_ids) - set(topics):
        raise DecisionError(f"no topic with id {', '.join(map(str, sorted(missing)))}")
    now = utcnow()
    for placement_id in placement_ids:
        placement = get_placement(session, placement_id)
        before = sorted(link.topic.slug for link in placement.topic_links)
        kept = []
        for link in placement.topic_links:
            if link.topic_id in topics:
                if link.source is not TopicSource.MANUAL:
                    link.source, link.added_by, link.added_at = TopicSource.MANUAL, actor, now
                kept.append(link)
            elif not replace:
                kept.append(link)
        present = {link.topic_id for link in kept}
        kept += [
            PlacementTopic(
                topic_id=topic_id, source=TopicSource.MANUAL, added_by=actor, added_at=now
            )
            for topic_id in topic_ids
            if topic_id not in present
        ]
        placement.topic_links = kept
        session.flush()
        after = sorted(
            topics[link.topic_id].slug if link.topic_id in topics else link.topic.slug
            for link in kept
        )
        if after != before:
            _record(
                session,
                actor,
                audit.Action.ITEM_TAG,
                placement,
                before={"topics": before},
                after={"topics": after},
            )


def _suggestion(
    session: Session, placement_id: int, topic_id: int
) -> tuple[Placement, PlacementTopic]:
    placement = get_placement(session, placement_id)
    link = next((k for k in placement.topic_links if k.topic_id == topic_id), None)
    if link is None or link.source is not TopicSource.SUGGESTED:
        raise DecisionError("that topic is not suggested for this item")
    return placement, link


def confirm_suggestion(session: Session, placement_id: int, topic_id: int, actor: str) -> Placement:
    """Make a suggested topic the librarian's own; the reason it was suggested is kept."""
    placement, link = _suggestion(session, placement_id, topic_id)
    link.source, link.added_by, link.added_at = TopicSource.MANUAL, actor, utcnow()
    _record(
        session,
        actor,
        audit.Action.ITEM_CONFIRM_TOPIC,
        placement,
        after={"topic": link.topic.slug, "suggested_because": link.reason},
    )
    return placement


def dismiss_suggestion(session: Session, placement_id: int, topic_id: int, actor: str) -> Placement:
    placement, link = _suggestion(session, placement_id, topic_id)
    placement.topic_links.remove(link)
    _record(
        session,
        actor,
        audit.Action.ITEM_DISMISS_TOPIC,
        placement,
        before={"topic": link.topic.slug, "suggested_because": link.reason},
    )
    return placement


def edit_text(session: Session, item_id: int, title: str, summary_html: str, actor: str) -> Item:
    """Rewrite title and summary; the feed's own wording stays in the original fields."""
    item = get_item(session, item_id)
    title = " ".join(title.split())
    if not title:
        raise DecisionError("the title cannot be empty")
    clean = sanitize_html(summary_html, item.link)
    if (title, clean) == (item.title, item.summary_html):
        return item
    before = {"title": item.title, "summary_html": item.summary_html}
    if item.original_title is None:  # the first edit keeps the feed's own wording
        item.original_title, item.original_summary_html = item.title, item.summary_html
    item.title, item.summary_html, item.summary_text = title, clean, html_to_text(clean)
    audit.record(
        session,
        actor=actor,
        action=audit.Action.ITEM_EDIT,
        object_type=audit.ObjectType.ITEM,
        object_id=item.id,
        summary=title,
        before=before,
        after={"title": title, "summary_html": clean},
    )
    return item


def edit_wording(session: Session, item_id: int, title: str, summary: str, actor: str) -> Item:
    """Rewrite title and summary from the item page, where the summary is typed as plain
    text: paragraphs and line breaks kept, nothing typed ever taken as markup."""
    item = get_item(session, item_id)
    return edit_text(
        session, item_id, title, edited_summary(item.summary_html, summary, item.link), actor
    )


def delete(session: Session, item_id: int, actor: str) -> Item:
    """Delete for good, from every newsletter: tombstones keep later polls from bringing the
    item back."""
    item = get_item(session, item_id)
    audit.record(
        session,
        actor=actor,
        action=audit.Action.ITEM_DELETE,
        object_type=audit.ObjectType.ITEM,
        object_id=item.id,
        summary=item.title,
        before={"title": item.title, "url": item.link},
    )
    delete_item(session, item)
    return item
