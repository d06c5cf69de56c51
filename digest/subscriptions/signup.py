"""Signing up with double opt-in: nothing is sent but a confirmation until the link is used.

The answer is the same whether or not the address is known, so the page cannot be used to
find out who subscribes; what differs is only the email that the owner of the address gets.
This is also the only way back for an address on the suppression list: confirming a fresh
sign-up lifts what held it back from that newsletter, and the consent record says so.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from email_validator import EmailNotValidError, validate_email
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from digest.addresses import entry_note
from digest.errors import Invalid, Refused, TooMany
from digest.mailsettings import MailSettings
from digest.models import (
    Newsletter,
    Subscriber,
    SubscriberStatus,
    Subscription,
    Topic,
)
from digest.subscriptions import suppression
from digest.subscriptions.identity import voice_of
from digest.subscriptions.mailer import Notice
from digest.subscriptions.manage import Origin, record
from digest.subscriptions.tokens import InvalidToken, subscription_token
from digest.timeutil import utcnow

CONSENT_WORDING = {
    "2026-11": "Yes, send me {title} by email every week. I can unsubscribe at any time with "
    "the link in every email, and the library keeps a record of this consent.",
}
CURRENT_WORDING = "2026-11"
CONFIRM_SALT = "digest.confirm-subscription"
CONFIRM_MAX_AGE = timedelta(days=7)


class SignupError(Invalid):
    """The form cannot be accepted (not an address); the message says why."""


class TooManySignups(SignupError, TooMany):
    """Too many requests that send mail from one network (see `requests`)."""


class JoinRefused(SignupError, Refused):
    """Joining from the preference centre needs an active, confirmed subscription."""


class Joined(enum.StrEnum):
    JOINED = "joined"  # subscribed at once
    CONFIRMING = "confirming"  # the address had left that newsletter: a confirmation was sent


@dataclass(frozen=True)
class SignupForm:
    email: str
    name: str
    topic_ids: Sequence[int]
    origin: Origin


def consent_text(newsletter: Newsletter, version: str = CURRENT_WORDING) -> str:
    return CONSENT_WORDING[version].format(title=newsletter.title)


def _confirmations(keys: Sequence[str]) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(list(keys), salt=CONFIRM_SALT)


def _secret_tag(link_secret: str | None) -> str | None:
    # The confirmation link carries a digest of the row's link secret, not the secret itself.
    if link_secret is None:
        return None
    return hashlib.sha256(link_secret.encode()).hexdigest()[:22]


def confirmation_token(subscription_id: int, link_secret: str | None, keys: Sequence[str]) -> str:
    return _confirmations(keys).dumps({"s": subscription_id, "l": _secret_tag(link_secret)})


def read_confirmation_token(token: str, keys: Sequence[str]) -> tuple[int, str | None]:
    """The subscription number and link-secret digest a confirmation link names."""
    try:
        payload = _confirmations(keys).loads(token, max_age=CONFIRM_MAX_AGE.total_seconds())
    except SignatureExpired:
        raise InvalidToken("this confirmation link has expired: sign up again") from None
    except BadSignature:
        raise InvalidToken("this link is not valid") from None
    return int(payload["s"]), payload.get("l")


def normalised_address(typed: str) -> str:
    """The address as subscribers are stored; SignupError for one that is not an address."""
    try:
        address = validate_email(typed.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise SignupError(f"that is not an email address ({exc})") from None
    return address.normalized.lower()


def sign_up(
    session: Session,
    newsletter: Newsletter,
    form: SignupForm,
    keys: Sequence[str],
    settings: MailSettings,
    hash_key: str,
    outbox: list[Notice],
) -> str | None:
    """Start a subscription and put the confirmation (or, if already subscribed, a note) in
    `outbox`, for the newsletter's transport. An address that left, bounced or complained gets
    a confirmation too: confirming it is how the person comes back. Returns what the person
    should know about their address (`entry_note`), the same whether or not it was known.

    The public pages do not call this while answering: they queue the form (`requests`), and
    this runs off the request path, so that the page cannot tell a known address by its time."""
    email = normalised_address(form.email)
    note = entry_note(email)
    subscriber = session.scalar(select(Subscriber).where(Subscriber.email == email))
    if subscriber is None:
        subscriber = Subscriber(email=email, name=" ".join(form.name.split())[:200])
        session.add(subscriber)
        session.flush()
    subscription = next(
        (s for s in subscriber.subscriptions if s.newsletter_id == newsletter.id), None
    )
    if subscription is not None and subscription.status in (
        SubscriberStatus.UNSUBSCRIBED,
        SubscriberStatus.SUPPRESSED,
    ):
        # Pending from now on, so keep on the list why it was held back (rows from before the
        # list kept hashes say it only in their status).
        reason = suppression.reason_for(session, email, newsletter.id, hash_key)
        if reason is not None:
            suppression.suppress(session, email, reason.reason, hash_key, newsletter.id)
    if subscription is not None and subscription.status is SubscriberStatus.ACTIVE:
        outbox.append(
            _notice(
                newsletter,
                email,
                f"You already receive {newsletter.title}",
                _already_text(newsletter, subscription, settings, keys),
            )
        )
        return note
    if subscription is None:
        subscription = Subscription(newsletter=newsletter, subscriber=subscriber)
        session.add(subscription)
    subscription.status = SubscriberStatus.PENDING
    subscription.topics = list(
        session.scalars(select(Topic).where(Topic.id.in_(form.topic_ids), ~Topic.retired))
    )
    session.flush()
    record(
        session,
        subscription,
        "signup",
        form.origin,
        {"topics": [t.slug for t in subscription.topics], "wording": consent_text(newsletter)},
        CURRENT_WORDING,
    )
    token = confirmation_token(subscription.id, subscription.link_secret, keys)
    link = f"{settings.base_url}/confirm/{token}"
    outbox.append(
        _notice(
            newsletter,
            email,
            f"Please confirm your subscription to {newsletter.title}",
            _confirm_text(newsletter, link),
        )
    )
    return note


def confirm(
    session: Session, token: str, keys: Sequence[str], origin: Origin, hash_key: str
) -> Subscription:
    """Confirm a pending sign-up (a second use changes nothing). It lifts whatever held the
    address back from this newsletter; a link older than a later unsubscribe, bounce or
    complaint no longer confirms, because that made the subscription leave `pending`."""
    number, tag = read_confirmation_token(token, keys)
    subscription = session.get(Subscription, number)
    if subscription is None or tag != _secret_tag(subscription.link_secret):
        raise InvalidToken("this link is not valid")
    if subscription.status is SubscriberStatus.ACTIVE:
        return subscription
    if subscription.status is not SubscriberStatus.PENDING:
        raise InvalidToken("this confirmation link is no longer valid: sign up again")
    subscription.status = SubscriberStatus.ACTIVE
    subscription.confirmed_at = utcnow()
    lifted = suppression.lift(
        session, subscription.subscriber.email, subscription.newsletter_id, hash_key
    )
    record(session, subscription, "confirm", origin, {"lifted": lifted} if lifted else None)
    return subscription


def join(
    session: Session,
    subscription: Subscription,
    newsletter: Newsletter,
    origin: Origin,
    hash_key: str,
) -> Joined:
    """Subscribe the address of a confirmed subscription to another newsletter, at once; or,
    if the address had left that one, say so (CONFIRMING): the caller then asks for a fresh
    sign-up, which sends a confirmation."""
    if subscription.status is not SubscriberStatus.ACTIVE or subscription.confirmed_at is None:
        raise JoinRefused(
            "only a confirmed subscription can join another newsletter; "
            f"sign up on the {newsletter.title} page instead"
        )
    subscriber = subscription.subscriber
    if suppression.reason_for(session, subscriber.email, newsletter.id, hash_key) is not None:
        return Joined.CONFIRMING
    other = next((s for s in subscriber.subscriptions if s.newsletter_id == newsletter.id), None)
    if other is None:
        other = Subscription(newsletter=newsletter, subscriber=subscriber)
        session.add(other)
    if other.status is not SubscriberStatus.ACTIVE:
        other.status, other.confirmed_at = SubscriberStatus.ACTIVE, utcnow()
        session.flush()
        record(
            session,
            other,
            "signup",
            origin,
            {
                "wording": consent_text(newsletter),
                "confirmed_by": "the signed link of another subscription",
            },
            CURRENT_WORDING,
        )
    return Joined.JOINED


def send_my_links(
    session: Session,
    email: str,
    settings: MailSettings,
    keys: Sequence[str],
    outbox: list[Notice],
) -> None:
    """Put in `outbox` an email with the preference links of an address, if it has any (the
    page says the same either way), for the transport of the first newsletter listed. Like
    `sign_up`, this runs off the request path."""
    subscriber = session.scalar(select(Subscriber).where(Subscriber.email == email.strip().lower()))
    live = [
        s
        for s in (subscriber.subscriptions if subscriber else [])
        if s.status in (SubscriberStatus.ACTIVE, SubscriberStatus.UNSUBSCRIBED)
    ]
    if not live:
        return
    lines = [
        f"{s.newsletter.title}: {settings.base_url}/p/"
        f"{subscription_token(s.id, s.link_secret, keys)}"
        for s in live
    ]
    outbox.append(
        _notice(
            live[0].newsletter,
            subscriber.email,
            f"Your preference links for {voice_of(live[0].newsletter).name}",
            "Here are the links to manage your subscriptions:\n\n"
            + "\n".join(lines)
            + "\n\nIf you did not ask for this, you can ignore this email.\n",
        )
    )


def _confirm_text(newsletter: Newsletter, link: str) -> str:
    return (
        f"Someone, probably you, asked to receive {newsletter.title} at this address.\n\n"
        f"To confirm, open this link within 7 days:\n{link}\n\n"
        "If it was not you, ignore this email: nothing will be sent.\n"
    )


def _already_text(
    newsletter: Newsletter, subscription: Subscription, settings: MailSettings, keys: Sequence[str]
) -> str:
    token = subscription_token(subscription.id, subscription.link_secret, keys)
    link = f"{settings.base_url}/p/{token}"
    return (
        f"You asked to subscribe to {newsletter.title}, and you already receive it.\n\n"
        f"To change your topics or unsubscribe: {link}\n"
    )


def _notice(newsletter: Newsletter, to: str, subject: str, text: str) -> Notice:
    """A short email from the library (signed with its name and address), not the software."""
    body = f"{text}\n{voice_of(newsletter).signature()}"
    return Notice(newsletter.transport, newsletter.from_address, to, subject, body)


def expire_unconfirmed(session: Session, now: datetime | None = None) -> int:
    """Forget sign-ups whose confirmation link has expired unused: the subscription goes, and
    the address with its consent record too unless it holds another subscription. Returns how
    many sign-ups were removed."""
    cutoff = (now or utcnow()) - CONFIRM_MAX_AGE
    stale = session.scalars(
        select(Subscription).where(
            Subscription.status == SubscriberStatus.PENDING,
            Subscription.confirmed_at.is_(None),
            Subscription.created_at < cutoff,
        )
    ).all()
    for subscription in stale:
        subscriber = subscription.subscriber
        subscriber.subscriptions.remove(subscription)
        if not subscriber.subscriptions:
            session.delete(subscriber)
    session.flush()
    return len(stale)
