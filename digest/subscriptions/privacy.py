"""Subject access and erasure (UK GDPR): everything held about an address, or nothing."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from digest.errors import NotFound
from digest.models import ConsentEvent, MailRequest, Newsletter, Subscriber, Suppression
from digest.subscriptions import staffaudit
from digest.subscriptions.suppression import Reason, email_hash, suppress


def _subscriber(session: Session, email: str) -> Subscriber:
    found = session.scalar(select(Subscriber).where(Subscriber.email == email.strip().lower()))
    if found is None:
        raise NotFound(f"no subscriber {email}")
    return found


def subject_access(session: Session, email: str, hash_key: str) -> dict[str, Any]:
    """Every fact held about a subscriber, as JSON-ready data: the suppression list's entries
    for their address too."""
    subscriber = _subscriber(session, email)
    events = session.scalars(
        select(ConsentEvent)
        .where(ConsentEvent.subscriber_id == subscriber.id)
        .order_by(ConsentEvent.at)
    )
    held = session.execute(
        select(Suppression.reason, Newsletter.slug, Suppression.at)
        .outerjoin(Newsletter, Newsletter.id == Suppression.newsletter_id)
        .where(Suppression.email_hash == email_hash(subscriber.email, hash_key))
        .order_by(Suppression.at)
    )
    return {
        "email": subscriber.email,
        "name": subscriber.name,
        "created_at": subscriber.created_at.isoformat(),
        "subscriptions": [
            {
                "newsletter": s.newsletter.slug,
                "status": s.status.value,
                "paused": s.paused,
                "topics": [t.slug for t in s.topics],
                "created_at": s.created_at.isoformat(),
                "confirmed_at": s.confirmed_at.isoformat() if s.confirmed_at else None,
            }
            for s in subscriber.subscriptions
        ],
        "consent_events": [
            {
                "at": e.at.isoformat(),
                "kind": e.kind,
                "newsletter": e.newsletter_id,
                "form": e.form,
                "wording_version": e.wording_version,
                "ip": e.ip,
                "user_agent": e.user_agent,
                "detail": e.detail,
            }
            for e in events
        ],
        "suppressed": [
            {"reason": reason, "newsletter": slug or "every newsletter", "at": at.isoformat()}
            for reason, slug, at in held
        ],
    }


def erase(session: Session, email: str, hash_key: str, *, actor: str) -> int:
    """Delete the subscriber and everything about them; keep only a keyed hash of the
    address, so that an old list cannot bring it back. The audit log says who erased them by
    their number alone, and forgets their address and name in what it held before. Returns
    their number."""
    subscriber = _subscriber(session, email)
    number = subscriber.id
    staffaudit.erased(session, actor, number, subscriber.email, subscriber.name)
    session.execute(delete(ConsentEvent).where(ConsentEvent.subscriber_id == subscriber.id))
    # A public form's request not yet processed would otherwise sign them up again.
    session.execute(delete(MailRequest).where(MailRequest.email == subscriber.email))
    session.delete(subscriber)
    suppress(session, subscriber.email, Reason.ERASED, hash_key)
    return number
