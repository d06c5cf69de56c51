"""Finding a record by the name people use for it, or saying plainly that there is none."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from digest.errors import NotFound
from digest.models.content import Newsletter
from digest.models.editions import Edition


def find_newsletter(session: Session, slug: str) -> Newsletter | None:
    """The newsletter `slug` names (as in the config, the CLI and the web's addresses), or
    None: for callers that say so in their own words (a form's field, a skipped job)."""
    return session.scalar(select(Newsletter).where(Newsletter.slug == slug))


def newsletter_by_slug(session: Session, slug: str) -> Newsletter:
    """The newsletter `slug` names, or NotFound."""
    found = find_newsletter(session, slug)
    if found is None:
        raise NotFound(f"no newsletter {slug!r}")
    return found


def edition_by_id(session: Session, edition_id: int) -> Edition:
    found = session.get(Edition, edition_id)
    if found is None:
        raise NotFound(f"no edition with id {edition_id}")
    return found
