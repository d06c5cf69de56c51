"""How many items each feed has brought: for the feed lists on the web and the command line."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from digest.models import ItemSource


def items_per_feed(session: Session, since: datetime | None = None) -> dict[int, int]:
    """Items by feed id, all of them or those first seen from `since`; feeds with none are
    absent."""
    query = select(ItemSource.feed_id, func.count()).group_by(ItemSource.feed_id)
    if since is not None:
        query = query.where(ItemSource.first_seen_at >= since)
    return {feed_id: count for feed_id, count in session.execute(query)}
