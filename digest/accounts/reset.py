"""Password reset by emailed link, for staff who forgot theirs or whom an admin sends one.

The link carries a token signed with the secret key (itsdangerous), naming the account and a
fingerprint of its password hash as it is now, and dated. Setting a password changes the hash,
so a link works once, and a link sent before any other change of password is dead too; no
table holds the tokens. Asking is rate-limited like the public forms (`MailRequest` rows,
counted per address by keyed hash and per network), and answers the same for every address:
whether it has an account is only looked at to decide what the queued row will send.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from digest import audit
from digest.accounts import (
    AccountError,
    get_user,
    normalise_email,
    replace_password,
)
from digest.errors import TooMany
from digest.formlimits import address_is_over, network_is_over
from digest.models import MailRequest, Newsletter, User
from digest.networks import network_of
from digest.timeutil import utcnow

SALT = "digest.staff-password-reset"
LINK_LIFETIME = timedelta(hours=1)  # long enough to read one's mail, short if it leaks
KIND = "staff_reset"  # the MailRequest rows of this form


class ResetLinkError(AccountError):
    """A reset link that cannot be used (expired, used, altered); the message says which."""


class TooManyResets(TooMany):
    """The network asked for too many emails; it may ask again in an hour."""


def _fingerprint(password_hash: str) -> str:
    # The hash of the hash: the link never carries the password hash itself.
    return hashlib.sha256(password_hash.encode()).hexdigest()[:32]


def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=SALT)


def reset_token(user: User, secret: str) -> str:
    """A link's token for `user`, good for LINK_LIFETIME and until the password changes."""
    return _serializer(secret).dumps({"u": user.id, "h": _fingerprint(user.password_hash)})


def user_for_token(session: Session, token: str, secret: str) -> User:
    """The account a link is for; ResetLinkError when it cannot be used."""
    try:
        data: Any = _serializer(secret).loads(token, max_age=int(LINK_LIFETIME.total_seconds()))
    except SignatureExpired:
        raise ResetLinkError(
            "this link has expired: links last an hour. Ask for a new one"
        ) from None
    except BadSignature:
        raise ResetLinkError("this link is not one Digest sent, or it was cut short") from None
    user_id = data.get("u") if isinstance(data, dict) else None
    user = session.get(User, user_id) if isinstance(user_id, int) else None
    if user is None or not user.active:
        raise ResetLinkError("this link is for an account that is no longer open")
    if not hmac.compare_digest(str(data.get("h")), _fingerprint(user.password_hash)):
        raise ResetLinkError(
            "this link was used already, or the password was changed since it was sent. "
            "Ask for a new one"
        )
    return user


def set_password(session: Session, token: str, new: str, secret: str) -> User:
    """Set the password a link is for: the link then dies, the account is signed out
    everywhere and its failed sign-ins are forgotten; audited. Raises ResetLinkError or
    AccountError (a password too short or long)."""
    user = user_for_token(session, token, secret)
    replace_password(session, user, new, user.email, audit.Action.USER_RESET_PASSWORD_BY_LINK)
    return user


@dataclass(frozen=True)
class ResetMail:
    """An email with a reset link, to be sent through the newsletter's transport."""

    transport: str | None
    from_address: str
    to: str
    subject: str
    text: str

    def as_json(self) -> dict[str, str | None]:
        """As `subscriptions.mailer.Notice` stores a notice, for the public forms' sender."""
        return {
            "transport": self.transport,
            "from_address": self.from_address,
            "to": self.to,
            "subject": self.subject,
            "text": self.text,
        }


def reset_mail(session: Session, user: User, link: str, by: str | None = None) -> ResetMail | None:
    """The email for `user`, with `link`; sent from the first newsletter's address and
    transport, like other system mail. None when there is no newsletter to send from."""
    sender = session.scalar(select(Newsletter).order_by(Newsletter.id).limit(1))
    if sender is None:
        return None
    minutes = int(LINK_LIFETIME.total_seconds() // 60)
    why = (
        f"{by} asked for your Digest password to be reset."
        if by
        else "Someone, probably you, asked to reset the password of your Digest account."
    )
    text = (
        f"{why}\n\nTo choose a new password, open this link within {minutes} minutes:\n"
        f"{link}\n\nThe link works once. Choosing a new password signs you out everywhere.\n"
        "If you did not ask for this, ignore this email: your password stays as it is.\n"
    )
    return ResetMail(
        sender.transport, sender.from_address, user.email, "Reset your Digest password", text
    )


def _address_key(email: str, secret: str) -> str:
    return hmac.new(secret.encode(), f"{KIND}:{email}".encode(), hashlib.sha256).hexdigest()


def ask_for_reset(
    session: Session,
    typed: str,
    ip: str,
    secret: str,
    link_for: Callable[[str], str],
    now: datetime | None = None,
) -> None:
    """Queue the reset email for an address, if it is an open account's; `link_for(token)`
    makes the link. What is written is one row either way, so the answer cannot tell.
    Raises AccountError for text that is not an address, TooManyResets when the network has
    asked too often."""
    now = now or utcnow()
    email = normalise_email(typed)
    network = network_of(ip)
    if network_is_over(session, network, now):
        raise TooManyResets("too many requests from this network; try again in an hour")
    key = _address_key(email, secret)
    quiet = address_is_over(session, key, now, MailRequest.kind == KIND)
    user = get_user(session, email)
    # The same work for every address: an email is written for a stand-in when there is no
    # open account, and kept only for a real one.
    reachable = user is not None and user.active and not quiet
    someone = user if user is not None else User(id=0, email=email, password_hash="")
    mail = reset_mail(session, someone, link_for(reset_token(someone, secret)))
    if not reachable:
        mail = None
    session.add(
        MailRequest(
            kind=KIND,
            newsletter_id=None,
            email=None,
            address_key=key,
            network=network,
            detail=None,
            outgoing=[mail.as_json()] if mail else [],
            at=now,
            tries=0,
            # Over the address's limit the row is done at once: it only counts.
            done_at=now if quiet else None,
        )
    )


def send_reset_link(
    session: Session, user: User, secret: str, link_for: Callable[[str], str], actor: str
) -> ResetMail | None:
    """An admin sends `user` a reset link (queued like the form's); audited. Their password
    stays as it is until the link is used. None when there is nothing to send from."""
    mail = reset_mail(session, user, link_for(reset_token(user, secret)), by=actor)
    if mail is None:
        return None
    session.add(
        MailRequest(
            kind=KIND,
            newsletter_id=None,
            email=None,
            address_key=_address_key(user.email, secret),
            network="admin",
            detail=None,
            outgoing=[mail.as_json()],
            at=utcnow(),
            tries=0,
        )
    )
    audit.record(
        session,
        actor=actor,
        action=audit.Action.USER_RESET_LINK_SENT,
        object_type=audit.ObjectType.USER,
        object_id=user.id,
        summary=user.email,
    )
    return mail
