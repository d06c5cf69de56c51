"""Deciding on items: accept, reject, place, tag, rewrite, delete. Each change is audited."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from digest import audit
from digest.curation.items import get_item
from digest.ingest.sanitize import html_to_text, sanitize_html
from digest.ingest.store import delete_item
from digest.models import Item, ItemStatus, ItemTopic, Section, Topic, TopicSource
from digest.timeutil import utcnow


class DecisionError(ValueError):
    """A change that cannot be made; the message says why."""


def set_status(
    session: Session, item_ids: Iterable[int], status: ItemStatus, actor: str
) -> list[Item]:
    items = [get_item(session, item_id) for item_id in item_ids]
    for item in items:
        if item.status is status:
            continue
        before = item.status
        item.status = status
        audit.record(
            session,
            actor,
            f"item.{status.value}",
            "item",
            item.id,
            item.title,
            before={"status": before.value},
            after={"status": status.value},
        )
    return items


def place(session: Session, item_id: int, section_id: int, actor: str) -> Item:
    """Put an item in a newsletter section."""
    item = get_item(session, item_id)
    section = session.get(Section, section_id)
    if section is None:
        raise DecisionError(f"no section with id {section_id}")
    before = {
        "newsletter": item.newsletter.slug if item.newsletter else None,
        "section": item.section.name if item.section else None,
    }
    item.newsletter_id, item.section_id = section.newsletter_id, section.id
    session.flush()
    session.refresh(item)
    audit.record(
        session,
        actor,
        "item.place",
        "item",
        item.id,
        item.title,
        before=before,
        after={"newsletter": section.newsletter.slug, "section": section.name},
    )
    return item


def set_topics(
    session: Session,
    item_ids: Iterable[int],
    topic_ids: Sequence[int],
    actor: str,
    replace: bool = True,
) -> None:
    """Tag items. With `replace`, the chosen topics become the item's whole set; chosen topics
    are marked manual, and unconfirmed suggestions that were not chosen are dropped."""
    topics = {t.id: t for t in session.scalars(select(Topic).where(Topic.id.in_(topic_ids)))}
    if missing := set(topic_ids) - set(topics):
        raise DecisionError(f"no topic with id {', '.join(map(str, sorted(missing)))}")
    now = utcnow()
    for item_id in item_ids:
        item = get_item(session, item_id)
        before = sorted(link.topic.slug for link in item.topic_links)
        kept = []
        for link in item.topic_links:
            if link.topic_id in topics:
                if link.source is not TopicSource.MANUAL:
                    link.source, link.added_by, link.added_at = TopicSource.MANUAL, actor, now
                kept.append(link)
            elif not replace:
                kept.append(link)
        present = {link.topic_id for link in kept}
        kept += [
            ItemTopic(topic_id=topic_id, source=TopicSource.MANUAL, added_by=actor, added_at=now)
            for topic_id in topic_ids
            if topic_id not in present
        ]
        item.topic_links = kept
        session.flush()
        after = sorted(
            topics[link.topic_id].slug if link.topic_id in topics else link.topic.slug
            for link in kept
        )
        if after != before:
            audit.record(
                session,
                actor,
                "item.tag",
                "item",
                item.id,
                item.title,
                before={"topics": before},
                after={"topics": after},
            )


def _suggestion(session: Session, item_id: int, topic_id: int) -> tuple[Item, ItemTopic]:
    item = get_item(session, item_id)
    link = next((k for k in item.topic_links if k.topic_id == topic_id), None)
    if link is None or link.source is not TopicSource.SUGGESTED:
        raise DecisionError("that topic is not suggested for this item")
    return item, link


def confirm_suggestion(session: Session, item_id: int, topic_id: int, actor: str) -> Item:
    """Make a suggested topic the librarian's own; the reason it was suggested is kept."""
    item, link = _suggestion(session, item_id, topic_id)
    link.source, link.added_by, link.added_at = TopicSource.MANUAL, actor, utcnow()
    audit.record(
        session,
        actor,
        "item.confirm_topic",
        "item",
        item.id,
        item.title,
        after={"topic": link.topic.slug, "suggested_because": link.reason},
    )
    return item


def dismiss_suggestion(session: Session, item_id: int, topic_id: int, actor: str) -> Item:
    item, link = _suggestion(session, item_id, topic_id)
    item.topic_links.remove(link)
    audit.record(
        session,
        actor,
        "item.dismiss_topic",
        "item",
        item.id,
        item.title,
        before={"topic": link.topic.slug, "suggested_because": link.reason},
    )
    return item


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
        actor,
        "item.edit",
        "item",
        item.id,
        title,
        before=before,
        after={"title": title, "summary_html": clean},
    )
    return item


def delete(session: Session, item_id: int, actor: str) -> Item:
    """Delete for good: tombstones keep later polls from bringing the item back."""
    item = get_item(session, item_id)
    audit.record(
        session,
        actor,
        "item.delete",
        "item",
        item.id,
        item.title,
        before={"title": item.title, "url": item.link},
    )
    delete_item(session, item)
    return item
