"""The audit log: every change of state, with who made it and the values before and after."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import Session

from digest.models import AuditEntry
from digest.timeutil import utcnow


class ObjectType(enum.StrEnum):
    """What an audit entry is about; the values are stored, so they never change."""

    EDITION = "edition"
    FEED = "feed"
    ITEM = "item"
    SUBSCRIBER = "subscriber"
    TOPIC = "topic"
    USER = "user"


class Action(enum.StrEnum):
    """What was done, as "object.verb"; the values are stored and filtered by prefix."""

    EDITION_ADD_ITEM = "edition.add_item"
    EDITION_APPROVALS_SET_ASIDE = "edition.approvals_set_aside"
    EDITION_APPROVE = "edition.approve"
    EDITION_APPROVE_FIRST = "edition.approve_first"
    EDITION_BUILD = "edition.build"
    EDITION_CANCEL = "edition.cancel"
    EDITION_EDIT = "edition.edit"
    EDITION_MISSED = "edition.missed"
    EDITION_MOVE_ITEM = "edition.move_item"
    EDITION_PURGE_DELIVERIES = "edition.purge_deliveries"
    EDITION_REMOVE_ITEM = "edition.remove_item"
    EDITION_SEND = "edition.send"
    EDITION_UNAPPROVE = "edition.unapprove"

    FEED_ADD = "feed.add"
    FEED_DELETE = "feed.delete"
    FEED_EDIT = "feed.edit"
    FEED_IMPORT_OPML = "feed.import_opml"
    FEED_PAUSE = "feed.pause"
    FEED_POLL = "feed.poll"
    FEED_RESUME = "feed.resume"

    # Setting an item's status records the status it was given: item.<ItemStatus value>.
    ITEM_ACCEPTED = "item.accepted"
    ITEM_NEW = "item.new"
    ITEM_REJECTED = "item.rejected"
    ITEM_ADD = "item.add"
    ITEM_CONFIRM_TOPIC = "item.confirm_topic"
    ITEM_DELETE = "item.delete"
    ITEM_DIFFERENT = "item.different"
    ITEM_DISMISS_TOPIC = "item.dismiss_topic"
    ITEM_EDIT = "item.edit"
    ITEM_MERGE = "item.merge"
    ITEM_OFFER = "item.offer"
    ITEM_PLACE = "item.place"
    ITEM_RECORD_CORRECT = "item.record_correct"  # a field of its CSL record corrected
    ITEM_RECORD_LOOKUP = "item.record_lookup"  # asked to look its DOI or PMID up again
    ITEM_SPLIT = "item.split"
    ITEM_TAG = "item.tag"

    # What staff do to subscribers; a subscriber's own changes are consent events instead.
    SUBSCRIBER_ADD = "subscriber.add"
    SUBSCRIBER_ERASE = "subscriber.erase"
    SUBSCRIBER_EXPORT = "subscriber.export"
    SUBSCRIBER_IMPORT = "subscriber.import"
    SUBSCRIBER_UNSUBSCRIBE = "subscriber.unsubscribe"

    TOPIC_ADD = "topic.add"
    TOPIC_MERGE = "topic.merge"
    TOPIC_RENAME = "topic.rename"
    TOPIC_RESTORE = "topic.restore"
    TOPIC_RETIRE = "topic.retire"

    USER_CHANGE_PASSWORD = "user.change_password"
    USER_CREATE = "user.create"
    USER_DISABLE = "user.disable"
    USER_ENABLE = "user.enable"
    USER_RESET_LINK_SENT = "user.reset_link_sent"
    USER_RESET_PASSWORD = "user.reset_password"
    USER_RESET_PASSWORD_BY_LINK = "user.reset_password_by_link"
    USER_SET_ROLE = "user.set_role"
    USER_UNLOCK = "user.unlock"


def record(
    session: Session,
    *,
    actor: str,
    action: Action,
    object_type: ObjectType,
    object_id: int | str | None,
    summary: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    # Plain strings, so an entry not yet reloaded holds what the database gives back.
    session.add(
        AuditEntry(
            at=utcnow(),
            actor=actor,
            action=str(action),
            object_type=str(object_type),
            object_id=None if object_id is None else str(object_id),
            summary=summary,
            before=before,
            after=after,
        )
    )


@dataclass(frozen=True)
class AuditFilter:
    actor: str | None = None
    action: str | None = None  # a whole action, or a prefix such as "edition."
    object_type: str | None = None
    since: datetime | None = None
    older_than: int | None = None  # an entry's id: the page of entries after it


def audit_query(filters: AuditFilter) -> Select[tuple[AuditEntry]]:
    query = select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    if filters.actor:
        query = query.where(AuditEntry.actor == filters.actor)
    if filters.action:
        query = query.where(AuditEntry.action.startswith(filters.action, autoescape=True))
    if filters.object_type:
        query = query.where(AuditEntry.object_type == filters.object_type)
    if filters.since:
        query = query.where(AuditEntry.at >= filters.since)
    if filters.older_than is not None:
        at = select(AuditEntry.at).where(AuditEntry.id == filters.older_than).scalar_subquery()
        query = query.where(
            or_(AuditEntry.at < at, and_(AuditEntry.at == at, AuditEntry.id < filters.older_than))
        )
    return query


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditEntry]
    older: int | None  # the id to ask `older_than` for the next page; None on the last


def audit_page(session: Session, filters: AuditFilter, size: int) -> AuditPage:
    """A page of entries, newest first, and where the next begins."""
    rows = list(session.scalars(audit_query(filters).limit(size + 1)))
    return AuditPage(rows[:size], rows[size - 1].id if len(rows) > size else None)


def actors(session: Session) -> list[str]:
    """Everyone who ever changed something, for the log's filter."""
    return list(session.scalars(select(AuditEntry.actor).distinct().order_by(AuditEntry.actor)))


def action_groups() -> list[tuple[str, list[str]]]:
    """The actions by the kind of object they are about: ("edition", ["edition.approve", …]);
    every kind of object has its group, so that all its actions can be asked for."""
    groups: dict[str, list[str]] = {kind.value: [] for kind in ObjectType}
    for action in sorted(Action):
        groups.setdefault(action.split(".", 1)[0], []).append(action.value)
    return sorted(groups.items())


class ChangeKind(enum.StrEnum):
    ADDED = "added"
    REMOVED = "removed"
    CHANGED = "changed"


@dataclass(frozen=True)
class Change:
    """One field of an entry, as a person reads it: its old and new values in words, and for
    a list, which members came and went."""

    field: str
    kind: ChangeKind
    old: str = ""
    new: str = ""
    gained: tuple[str, ...] = ()
    lost: tuple[str, ...] = ()


def in_words(value: Any) -> str:
    """A stored value as text: lists by commas, yes and no, "none" for nothing."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(in_words(v) for v in value) or "none"
    if isinstance(value, dict):
        return "; ".join(f"{k}: {in_words(v)}" for k, v in value.items()) or "none"
    return str(value)


def changes(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[Change]:
    """What an entry changed, field by field, in the order the fields were recorded: a field
    only after is added, only before removed; one the same on both sides is left out."""
    before, after = before or {}, after or {}
    found: list[Change] = []
    for field in [*before, *(f for f in after if f not in before)]:
        if field not in after:
            found.append(Change(field, ChangeKind.REMOVED, old=in_words(before[field])))
        elif field not in before:
            found.append(Change(field, ChangeKind.ADDED, new=in_words(after[field])))
        elif before[field] != after[field]:
            old, new = before[field], after[field]
            gained = lost = ()
            if isinstance(old, list) and isinstance(new, list):
                gained = tuple(in_words(v) for v in new if v not in old)
                lost = tuple(in_words(v) for v in old if v not in new)
            found.append(
                Change(
                    field,
                    ChangeKind.CHANGED,
                    old=in_words(old),
                    new=in_words(new),
                    gained=gained,
                    lost=lost,
                )
            )
    return found
