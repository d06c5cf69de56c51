"""A proof: the whole edition, sent to one member of staff before it goes to subscribers."""

from __future__ import annotations

from email.utils import make_msgid

from digest.delivery.transport import Transports, for_newsletter
from digest.editions.message import (
    MailSettings,
    archive_url,
    build_message,
    mail_domain,
    return_address,
)
from digest.editions.render import render_cut
from digest.models import Edition, Subscriber, Subscription
from digest.subscriptions.tokens import TEST_SEND_SUBSCRIPTION

PROOF_MARK = "[TEST] "


def proof_subject(edition: Edition) -> str:
    """A proof's subject: the edition's, marked so that nobody takes it for the real send."""
    return PROOF_MARK + edition.subject


def send_proof(
    edition: Edition,
    to: str,
    settings: MailSettings,
    keys: list[str],
    transports: Transports,
) -> None:
    """Send every item of `edition` to `to` through its newsletter's transport. Its personal
    links name no real subscription: they lead to a page that says they came from a test.
    Raises `DeliveryError` when the transport refuses it, `ValueError` for an address or text
    that cannot be sent."""
    # Transient objects, never added to the session: a proof leaves no subscriber behind.
    reader = Subscription(
        id=TEST_SEND_SUBSCRIPTION,
        newsletter=edition.newsletter,
        subscriber=Subscriber(email=to, name=""),
    )
    rendered = render_cut(edition, None, archive_url(edition, settings))
    # A Message-ID of its own: a second proof of the same edition is a new message, which
    # Gmail would otherwise drop as seen before.
    message_id = make_msgid(domain=mail_domain(edition))
    raw = build_message(
        edition, reader, rendered, settings, keys, None, message_id, proof_subject(edition)
    )
    transport = for_newsletter(transports, edition.newsletter.transport)
    transport.send(return_address(edition), to, raw)
