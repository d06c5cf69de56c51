"""Composing an edition: a draft from the week's accepted items, edited, then approved.

Approval freezes what subscribers will read: each item's wording is copied into the edition,
and every change is refused until an editor un-approves it.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from digest import audit
from digest.citations import item_citation
from digest.editions.approvals import (
    approvers,
    contributed,
    set_aside_approvals,
    someone_else,
    withdraw_approvals,
)
from digest.editions.archive_index import edition_topics, edition_words, item_topics
from digest.editions.groups import group_of
from digest.editions.schedule import next_send_time
from digest.errors import Refused
from digest.models import (
    Contribution,
    Edition,
    EditionItem,
    EditionState,
    Item,
    ItemStatus,
    Newsletter,
    Placement,
    PlacementTopic,
    TopicSource,
)
from digest.timeutil import utcnow
from digest.wording import date_text


class EditionError(Refused, ValueError):
    """A change the edition's state does not allow; the message says why."""


class CancelledWeek(EditionError):
    """This week's edition was cancelled, and building it again was not asked for."""


def period_start(newsletter: Newsletter, now: datetime) -> date:
    """The Monday of the week in which the newsletter next goes out (its own calendar)."""
    send = next_send_time(
        newsletter.send_weekday, newsletter.send_time, newsletter.timezone, now
    ).astimezone(ZoneInfo(newsletter.timezone))
    return send.date() - timedelta(days=send.weekday())


def default_subject(newsletter: Newsletter, start: date) -> str:
    return f"{newsletter.title}: week commencing {start.day} {start:%B %Y}"


# Placements fetched by item id at a time: far under SQLite's limit of bound parameters.
WAITING_CHUNK = 5000
PREHEADER_CHARS = 150  # mail programs show 40 to 140 characters of it after the subject


def waiting_items(session: Session, newsletter_id: int) -> list[Placement]:
    """Items a newsletter accepted that none of its (uncancelled) editions holds yet."""
    # One set difference of two index-only lists (every item the newsletter accepted, every
    # item in its editions: tens of thousands each after five years), not a lookup in the
    # editions for every accepted item. Asked on its own, so that PostgreSQL, which cannot
    # guess how few remain, does not plan a scan of every placement to join them.
    waiting = list(
        session.scalars(
            select(Placement.item_id)
            .where(
                Placement.newsletter_id == newsletter_id, Placement.status == ItemStatus.ACCEPTED
            )
            .except_(_in_editions(newsletter_id))
        )
    )
    found: list[Placement] = []
    for first in range(0, len(waiting), WAITING_CHUNK):
        found += session.scalars(
            select(Placement)
            .join(Placement.item)
            .where(
                Placement.newsletter_id == newsletter_id,
                Placement.item_id.in_(waiting[first : first + WAITING_CHUNK]),
                Item.merged_into_id.is_(None),
            )
            .options(
                selectinload(Placement.topic_links).selectinload(PlacementTopic.topic),
                selectinload(Placement.section),
                selectinload(Placement.item),
            )
        )
    return sorted(found, key=lambda placement: placement.item.published, reverse=True)


def _in_editions(newsletter_id: int) -> Any:
    """Ids of items already in one of the newsletter's editions that is not cancelled."""
    return (
        select(EditionItem.item_id)
        .join(Edition)
        .where(Edition.newsletter_id == newsletter_id, Edition.state != EditionState.CANCELLED)
    )


def _sort_key(placement: Placement) -> tuple[int, str, float]:
    """Section order, then the item's first chosen topic, then newest first."""
    chosen = sorted(
        link.topic.label
        for link in placement.topic_links
        if link.source is not TopicSource.SUGGESTED
    )
    position = placement.section.position if placement.section else 10_000
    return position, chosen[0] if chosen else "~", -placement.item.published.timestamp()


def this_weeks_edition(
    session: Session, newsletter: Newsletter, now: datetime | None = None
) -> Edition | None:
    """The edition (not cancelled) of the week in which the newsletter next goes out."""
    edition = _of_the_week(session, newsletter, now or utcnow())
    return None if edition is None or edition.state is EditionState.CANCELLED else edition


def cancelled_this_week(
    session: Session, newsletter: Newsletter, now: datetime | None = None
) -> Edition | None:
    """This week's edition when it was cancelled: building this week's draft revives it."""
    edition = _of_the_week(session, newsletter, now or utcnow())
    return edition if edition is not None and edition.state is EditionState.CANCELLED else None


def _of_the_week(session: Session, newsletter: Newsletter, now: datetime) -> Edition | None:
    # A newsletter has one edition a week at most, whatever its state (a unique constraint).
    return session.scalar(
        select(Edition).where(
            Edition.newsletter_id == newsletter.id,
            Edition.period_start == period_start(newsletter, now),
        )
    )


def build_draft(
    session: Session,
    newsletter: Newsletter,
    actor: str,
    now: datetime | None = None,
    person: bool = True,
    revive: bool = False,
) -> Edition | None:
    """This period's draft, with every accepted item not yet in an edition added to it.

    A cancelled edition of the period stays cancelled (someone decided so) unless `revive`:
    then it becomes the draft again (`_revive`), its subject, introduction and order kept.
    Returns None when there is nothing to send and the newsletter skips empty weeks. `person`
    is False when no person builds it (the scheduler): then it counts as nobody's pair of eyes
    for the second-approver rule.
    """
    now = now or utcnow()
    start = period_start(newsletter, now)
    edition = _of_the_week(session, newsletter, now)
    if edition is not None and edition.state not in (EditionState.DRAFT, EditionState.CANCELLED):
        week = date_text(start)
        raise EditionError(f"the edition for the week of {week} is already {edition.state}")
    if edition is not None and edition.state is EditionState.CANCELLED and not revive:
        raise CancelledWeek(f"the edition for the week of {date_text(start)} was cancelled")
    waiting = waiting_items(session, newsletter.id)
    fresh = edition is None or edition.state is EditionState.CANCELLED
    if fresh and not waiting and newsletter.skip_when_empty:
        return None
    revived: dict[str, Any] | None = None
    if edition is None:
        edition = Edition(
            newsletter=newsletter,
            period_start=start,
            created_by=actor,
            subject=default_subject(newsletter, start),
        )
        session.add(edition)
    elif edition.state is EditionState.CANCELLED:
        revived = _revive(session, edition, {placement.item_id for placement in waiting})
        waiting = [p for p in waiting if p.item_id not in set(revived["items_kept"])]
    first = len(edition.entries)
    for offset, placement in enumerate(sorted(waiting, key=_sort_key)):
        edition.entries.append(EditionItem(item_id=placement.item_id, position=first + offset))
    if waiting or revived or not edition.contributors:
        contributed(edition, actor, Contribution.BUILT, person)
    if waiting:
        set_aside_approvals(session, edition, actor)
    session.flush()
    if waiting or revived:
        audit.record(
            session,
            actor=actor,
            action=audit.Action.EDITION_BUILD,
            object_type=audit.ObjectType.EDITION,
            object_id=edition.id,
            summary=edition.subject,
            before={"state": EditionState.CANCELLED.value} if revived else None,
            after={
                **(revived or {}),
                "items_added": [placement.item_id for placement in waiting],
            },
        )
    return edition


def _revive(session: Session, edition: Edition, available: set[int]) -> dict[str, Any]:
    """A cancelled edition made a draft again, for the same week (there is one a week). It
    keeps its subject, introduction and the order of its items that are still `available`
    (accepted and in no other edition); any approval of it is undone, as when un-approved.
    Returns what changed, for the audit log."""
    kept = [entry for entry in edition.entries if entry.item_id in available]
    dropped = [entry.item_id for entry in edition.entries if entry.item_id not in available]
    edition.entries = kept
    for position, entry in enumerate(kept):
        entry.position = position
        entry.frozen = entry.topics = None
    edition.state, edition.approved_by, edition.approved_at = EditionState.DRAFT, None, None
    edition.send_at = None
    edition.search_words = edition.search_topics = None
    withdrawn = withdraw_approvals(session, edition)
    return {
        "revived": True,
        "items_kept": [entry.item_id for entry in kept],
        "items_dropped": dropped,
        "approvals_withdrawn": withdrawn,
    }


def _editable(edition: Edition) -> None:
    if edition.state is not EditionState.DRAFT:
        raise EditionError(
            f"this edition is {edition.state}: its content is frozen"
            + (" until it is un-approved" if edition.state is EditionState.APPROVED else "")
        )


def _touched(session: Session, edition: Edition, actor: str) -> None:
    edition.last_edited_by, edition.last_edited_at = actor, utcnow()
    contributed(edition, actor, Contribution.EDITED)
    set_aside_approvals(session, edition, actor)


def set_text(
    session: Session,
    edition: Edition,
    subject: str,
    intro: str,
    actor: str,
    preheader: str | None = None,
) -> None:
    """Set the subject and introduction, and, when given, the preheader: the preview line
    mail programs show after the subject ("" or spaces: the introduction's first line)."""
    _editable(edition)
    subject = " ".join(subject.split())
    if not subject:
        raise EditionError("an edition needs a subject line")
    before = {"subject": edition.subject, "intro": edition.intro}
    after = {"subject": subject, "intro": intro.strip()}
    if preheader is not None:
        before["preheader"] = edition.preheader or ""
        after["preheader"] = " ".join(preheader.split())[:PREHEADER_CHARS]
        edition.preheader = after["preheader"] or None
    edition.subject, edition.intro = subject, after["intro"]
    _touched(session, edition, actor)
    audit.record(
        session,
        actor=actor,
        action=audit.Action.EDITION_EDIT,
        object_type=audit.ObjectType.EDITION,
        object_id=edition.id,
        summary=subject,
        before=before,
        after=after,
    )


def _renumber(edition: Edition) -> None:
    for position, entry in enumerate(edition.entries):
        entry.position = position


def add_item(session: Session, edition: Edition, item_id: int, actor: str) -> str:
    """Add an accepted item at the end of its group; returns its title."""
    _editable(edition)
    item = session.get(Item, item_id)
    if item is None:
        raise EditionError(f"no item with id {item_id}")
    if not any(p.newsletter_id == edition.newsletter_id for p in item.placements):
        raise EditionError(f"that item is not offered to {edition.newsletter.title}")
    in_editions = _in_editions(edition.newsletter_id).where(EditionItem.item_id == item_id)
    if session.scalar(in_editions) is not None:
        raise EditionError("that item is already in an edition")
    edition.entries.append(EditionItem(item_id=item_id, position=len(edition.entries)))
    _touched(session, edition, actor)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action=audit.Action.EDITION_ADD_ITEM,
        object_type=audit.ObjectType.EDITION,
        object_id=edition.id,
        summary=item.title,
        after={"item": item_id},
    )
    return item.title


def remove_item(session: Session, edition: Edition, item_id: int, actor: str) -> str:
    """Take an item out; it waits for the next edition. Returns its title."""
    _editable(edition)
    entry = next((e for e in edition.entries if e.item_id == item_id), None)
    if entry is None:
        raise EditionError("that item is not in this edition")
    edition.entries.remove(entry)
    _renumber(edition)
    _touched(session, edition, actor)
    audit.record(
        session,
        actor=actor,
        action=audit.Action.EDITION_REMOVE_ITEM,
        object_type=audit.ObjectType.EDITION,
        object_id=edition.id,
        summary=edition.subject,
        before={"item": item_id},
    )
    return entry.item.title


def group_mates(edition: Edition, item_id: int) -> list[EditionItem]:
    """The entries shown in the same group as the item (same section and topic, as the email
    groups them; `groups.group_of`), in the editor's order."""
    headings = {entry.item_id: group_of(_live(entry)) for entry in edition.entries}
    if item_id not in headings:
        raise EditionError("that item is not in this edition")
    return [e for e in edition.entries if headings[e.item_id] == headings[item_id]]


def _live(entry: EditionItem) -> dict[str, Any]:
    return entry.frozen or snapshot(entry.item, entry.placement)


def move_item(session: Session, edition: Edition, item_id: int, index: int, actor: str) -> str:
    """Put an item at `index` (0 first) among the items of its group. The group's items swap
    places among themselves, so every other item, and every group, stays where it was.
    Returns the item's title."""
    _editable(edition)
    mates = group_mates(edition, item_id)
    slots = sorted(entry.position for entry in mates)
    entry = next(e for e in mates if e.item_id == item_id)
    before = mates.index(entry)
    mates.remove(entry)
    index = max(0, min(index, len(mates)))
    mates.insert(index, entry)
    if index == before:
        return entry.item.title  # already there: nothing changed, nothing to record
    for slot, each in zip(slots, mates, strict=True):
        each.position = slot
    edition.entries.sort(key=lambda each: each.position)
    _touched(session, edition, actor)
    audit.record(
        session,
        actor=actor,
        action=audit.Action.EDITION_MOVE_ITEM,
        object_type=audit.ObjectType.EDITION,
        object_id=edition.id,
        summary=edition.subject,
        before={"item": item_id, "index_in_group": before},
        after={"item": item_id, "index_in_group": index},
    )
    return entry.item.title


def snapshot(item: Item, placement: Placement | None) -> dict[str, Any]:
    """What subscribers read about an item, as approved: its wording, and the section and
    topics its newsletter gave it (`placement`)."""
    chosen = sorted(
        (link.topic for link in placement.topic_links if link.source is not TopicSource.SUGGESTED)
        if placement
        else [],
        key=lambda topic: topic.slug,
    )
    return {
        "title": item.title,
        "link": item.link,
        "summary_html": item.summary_html,
        "summary_text": item.summary_text,
        "published": item.published.isoformat(),
        "published_estimated": item.published_estimated,
        # The publisher as configured for the feed (else its configured name), never the
        # feed's own <title>, which is often "Latest articles" or a site's tagline.
        "source": item.publisher
        or ", ".join(dict.fromkeys(s.feed.publisher or s.feed.name for s in item.sources)),
        # Rendered once here, in the newsletter's style, for the email, archive and Atom.
        **_citation(item, placement),
        "section": placement.section.name if placement and placement.section else None,
        # The section's place in the newsletter's order: the email's sections follow it.
        "section_position": placement.section.position if placement and placement.section else None,
        "topics": [topic.slug for topic in chosen],
        "topic_labels": sorted(topic.label for topic in chosen),
    }


def _citation(item: Item, placement: Placement | None) -> dict[str, str | None]:
    """The item's citation as the snapshot keeps it: HTML (italics), plain text, and the
    text again as "citation", where snapshots frozen before kept it."""
    style = placement.newsletter.citation_style if placement else None
    cited = item_citation(item, style)
    if cited is None:
        return {"citation": None, "citation_html": None, "citation_text": None}
    return {"citation": cited.text, "citation_html": str(cited.html), "citation_text": cited.text}


def approve(
    session: Session,
    edition: Edition,
    actor: str,
    send_at: datetime | None = None,
    now: datetime | None = None,
) -> bool:
    """Approve the edition: freeze the content and schedule the send (by default, the
    newsletter's next slot). Returns False when the newsletter needs a second person and
    `actor` is the only person who has built, edited or approved it: the approval is recorded
    and the edition waits, still a draft, for a second editor's."""
    _editable(edition)
    if not edition.entries:
        raise EditionError("an edition with no items cannot be approved")
    newsletter = edition.newsletter
    now = now or utcnow()
    when = send_at or next_send_time(
        newsletter.send_weekday, newsletter.send_time, newsletter.timezone, now
    )
    if when <= now:
        raise EditionError("the send time must be in the future")
    if newsletter.second_approver and not someone_else(edition, actor):
        _first_approval(session, edition, actor)
        return False
    contributed(edition, actor, Contribution.APPROVED)
    for entry in edition.entries:
        entry.frozen = snapshot(entry.item, entry.placement)
        entry.topics = item_topics(entry.frozen)
    edition.search_words = edition_words(
        edition.subject, edition.intro, (entry.frozen for entry in edition.entries)
    )
    edition.search_topics = edition_topics(entry.topics for entry in edition.entries)
    edition.state, edition.approved_by, edition.approved_at = EditionState.APPROVED, actor, now
    edition.send_at = when
    audit.record(
        session,
        actor=actor,
        action=audit.Action.EDITION_APPROVE,
        object_type=audit.ObjectType.EDITION,
        object_id=edition.id,
        summary=edition.subject,
        after={
            "send_at": when.isoformat(),
            "items": len(edition.entries),
            "approved_by": approvers(edition),
        },
    )
    return True


def _first_approval(session: Session, edition: Edition, actor: str) -> None:
    if actor in approvers(edition):
        raise EditionError(
            f"{actor} has already approved this edition; it needs a second editor other than "
            + actor
        )
    contributed(edition, actor, Contribution.APPROVED)
    audit.record(
        session,
        actor=actor,
        action=audit.Action.EDITION_APPROVE_FIRST,
        object_type=audit.ObjectType.EDITION,
        object_id=edition.id,
        summary=edition.subject,
        after={"approved_by": approvers(edition), "needs": f"a second editor other than {actor}"},
    )


def unapprove(session: Session, edition: Edition, actor: str) -> None:
    """Back to a draft that can be changed; every approval is undone, so it needs approving
    again (by two people, with the second-approver rule)."""
    if edition.state is not EditionState.APPROVED:
        raise EditionError(
            f"only an approved edition can be un-approved; this one is {edition.state}"
        )
    edition.state, edition.approved_by, edition.approved_at = EditionState.DRAFT, None, None
    edition.send_at = None
    for entry in edition.entries:
        entry.frozen = entry.topics = None
    edition.search_words = edition.search_topics = None
    before = withdraw_approvals(session, edition)
    audit.record(
        session,
        actor=actor,
        action=audit.Action.EDITION_UNAPPROVE,
        object_type=audit.ObjectType.EDITION,
        object_id=edition.id,
        summary=edition.subject,
        before={"approved_by": before},
    )


def cancel(session: Session, edition: Edition, actor: str) -> None:
    """Cancel a draft or approved edition; its items wait for the next one."""
    if edition.state not in (EditionState.DRAFT, EditionState.APPROVED):
        raise EditionError(f"a {edition.state} edition cannot be cancelled")
    before = edition.state.value
    edition.state = EditionState.CANCELLED
    audit.record(
        session,
        actor=actor,
        action=audit.Action.EDITION_CANCEL,
        object_type=audit.ObjectType.EDITION,
        object_id=edition.id,
        summary=edition.subject,
        before={"state": before},
    )


def list_editions(session: Session, newsletter: Newsletter | None = None) -> list[Edition]:
    query = (
        select(Edition)
        .order_by(Edition.period_start.desc(), Edition.id.desc())
        .options(
            selectinload(Edition.newsletter),
            selectinload(Edition.entries),
            selectinload(Edition.contributors),
        )
    )
    if newsletter is not None:
        query = query.where(Edition.newsletter_id == newsletter.id)
    return list(session.scalars(query))
