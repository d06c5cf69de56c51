"""The audit log: every change of state, with who made it and the values before and after."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from digest.models import AuditEntry
from digest.timeutil import utcnow


class ObjectType(enum.StrEnum):
    """What an audit entry is about; the values are stored, so they never change."""

    EDITION = "edition"
    FEED = "feed"
    ITEM = "item"
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
    ITEM_SPLIT = "item.split"
    ITEM_TAG = "item.tag"

    TOPIC_ADD = "topic.add"
    TOPIC_MERGE = "topic.merge"
    TOPIC_RENAME = "topic.rename"
    TOPIC_RESTORE = "topic.restore"
    TOPIC_RETIRE = "topic.retire"

    USER_CHANGE_PASSWORD = "user.change_password"
    USER_CREATE = "user.create"
    USER_DISABLE = "user.disable"
    USER_ENABLE = "user.enable"
    USER_RESET_PASSWORD = "user.reset_password"
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
    action: str | None = None
    object_type: str | None = None
    since: datetime | None = None


def audit_query(filters: AuditFilter) -> Select[tuple[AuditEntry]]:
    query = select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    if filters.actor:
        query = query.where(AuditEntry.actor == filters.actor)
    if filters.action:
        query = query.where(AuditEntry.action.startswith(filters.action))
    if filters.object_type:
        query = query.where(AuditEntry.object_type == filters.object_type)
    if filters.since:
        query = query.where(AuditEntry.at >= filters.since)
    return query
