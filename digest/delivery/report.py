"""The editors' report when an edition has gone out: how many were sent, bounced, failed."""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session, sessionmaker

from digest.accounts import addresses_with_role
from digest.db import transaction
from digest.delivery.notices import send_notice
from digest.delivery.queue import progress
from digest.delivery.transport import DeliveryError, Transports, for_newsletter
from digest.models import Edition, Role
from digest.timeutil import utcnow
from digest.wording import duration_text

log = logging.getLogger(__name__)


def report_text(edition: Edition, counts: dict[str, int]) -> str:
    took = ""
    if edition.sending_started_at and edition.sent_at:
        took = f" in {duration_text(edition.sent_at - edition.sending_started_at)}"
    lines = [
        f"{edition.newsletter.title}: “{edition.subject}” has gone out{took}.",
        "",
        *(f"{state.capitalize():<10} {count:>8,}" for state, count in counts.items() if count),
        "",
    ]
    if counts.get("deferred"):
        lines.append(
            "Deferred messages are tried again over the next day; those still refused then "
            "are marked failed."
        )
    if counts.get("bounced"):
        lines.append("Bounced addresses are suppressed: they will not be mailed again.")
    return "\n".join(lines) + "\n"


def send_reports(factory: sessionmaker[Session], edition_id: int, transports: Transports) -> int:
    """Email the edition's report to every active editor and admin, once, through the
    newsletter's transport. Returns how many."""
    with transaction(factory) as session:
        edition = session.get(Edition, edition_id)
        if edition is None or edition.report_sent_at is not None:
            return 0
        counts = progress(session, edition_id)
        text = report_text(edition, counts)
        editors = addresses_with_role(session, Role.EDITOR)
        subject = f"Sent: {edition.subject}"
        transport = for_newsletter(transports, edition.newsletter.transport)
        sent = 0
        for address in editors:
            try:
                send_notice(transport, edition.newsletter.from_address, address, subject, text)
            except (DeliveryError, ValueError) as exc:  # one editor's address: not the others'
                log.warning(
                    "the report on edition %d did not reach %s: %s", edition_id, address, exc
                )
            else:
                sent += 1
        edition.report_sent_at = utcnow()
    return sent
