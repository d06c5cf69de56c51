"""Staff accounts: creating them, signing in (throttled: see `throttle`), roles, and what
admins can undo (unlock, reset a password; a reset by emailed link: see `reset`)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from digest import audit
from digest.accounts import throttle
from digest.accounts.passwords import PASSWORDS
from digest.errors import Invalid
from digest.models import Role, User, WebSession
from digest.networks import network_of
from digest.timeutil import utcnow

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024  # far beyond any passphrase; argon2 need not read megabytes
MAX_EMAIL_LENGTH = 320  # 64 before the @, 255 after (RFC 3696, as corrected)


class AccountError(Invalid):
    """A request about an account that cannot be granted; the message says why."""


@dataclass(frozen=True)
class SignIn:
    user: User | None
    refused: throttle.Refusal | None = None  # too many failures: not checked at all


def normalise_email(address: str) -> str:
    try:
        return validate_email(address.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise AccountError(f"{address!r} is not an email address: {exc}") from None


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError(f"a password may have at most {MAX_PASSWORD_LENGTH} characters")


def sign_in_address(typed: str) -> str | None:
    """The address as accounts store it, or None for input that no account can have (too
    long, no @, a NUL or another control character): such a try is answered like a wrong
    password but neither checked nor counted, so it costs nothing and stores nothing."""
    email = typed.strip().lower()
    if not 3 <= len(email) <= MAX_EMAIL_LENGTH or "@" not in email or not email.isprintable():
        return None
    return email


def get_user(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == email.strip().lower()))


def create_user(session: Session, email: str, role: Role, password: str, actor: str) -> User:
    email = normalise_email(email)
    if get_user(session, email):
        raise AccountError(f"there is already an account for {email}")
    check_password_strength(password)
    user = User(email=email, role=role, password_hash=PASSWORDS.hash(password))
    session.add(user)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action=audit.Action.USER_CREATE,
        object_type=audit.ObjectType.USER,
        object_id=user.id,
        summary=f"{email} as {role}",
        after={"email": email, "role": role.value},
    )
    return user


def set_role(session: Session, email: str, role: Role, actor: str) -> User:
    user = _existing(session, email)
    before = user.role
    user.role = role
    audit.record(
        session,
        actor=actor,
        action=audit.Action.USER_SET_ROLE,
        object_type=audit.ObjectType.USER,
        object_id=user.id,
        summary=f"{user.email}: {role}",
        before={"role": before.value},
        after={"role": role.value},
    )
    return user


def signed_in_browsers(session: Session, user: User) -> int:
    """How many browsers the account is signed in on (sessions not yet ended or expired)."""
    count = select(func.count()).select_from(WebSession).where(WebSession.user_id == user.id)
    return session.scalar(count) or 0


def get_user_by_id(session: Session, user_id: int) -> User | None:
    return session.get(User, user_id)


def end_sessions(session: Session, user: User) -> int:
    """Sign the account out of every browser; how many sessions that ended."""
    ended = session.execute(delete(WebSession).where(WebSession.user_id == user.id))
    return ended.rowcount or 0


def set_active(session: Session, email: str, active: bool, actor: str) -> User:
    """Disabling also deletes every session of the account, so that re-enabling it does not
    bring back a browser (or a copied cookie) from before."""
    user = _existing(session, email)
    before = user.active
    user.active = active
    if not active:
        end_sessions(session, user)
    audit.record(
        session,
        actor=actor,
        action=audit.Action.USER_ENABLE if active else audit.Action.USER_DISABLE,
        object_type=audit.ObjectType.USER,
        object_id=user.id,
        summary=user.email,
        before={"active": before},
        after={"active": active},
    )
    return user


def change_password(session: Session, user: User, current: str, new: str) -> None:
    if not PASSWORDS.matches(user.password_hash, current):
        raise AccountError("the current password is not right")
    check_password_strength(new)
    user.password_hash = PASSWORDS.hash(new)
    user.password_changed_at = utcnow()
    audit.record(
        session,
        actor=user.email,
        action=audit.Action.USER_CHANGE_PASSWORD,
        object_type=audit.ObjectType.USER,
        object_id=user.id,
        summary=user.email,
    )


def _existing(session: Session, email: str) -> User:
    user = get_user(session, email)
    if user is None:
        raise AccountError(f"there is no account for {email}")
    return user


def sign_in(session: Session, typed_email: str, password: str, ip: str) -> SignIn:
    """Check a password, throttled per account and address (see `throttle`).

    The try is committed as a failure before the password is checked (argon2 takes a while),
    and forgotten when it was right: a try that arrives while another is being checked
    already counts that one."""
    now = utcnow()
    email = sign_in_address(typed_email)
    if email is None:
        return SignIn(None)
    network = network_of(ip)
    refused = throttle.refusal(session, email, network, now)
    if refused is not None:
        return SignIn(None, refused)
    throttle.record_failure(session, email, network, now)
    session.commit()
    user = get_user(session, email)
    too_long = len(password) > MAX_PASSWORD_LENGTH  # never a password: not worth hashing
    if too_long:
        return SignIn(None)
    if user is None:
        PASSWORDS.matches_nobody(password)
        return SignIn(None)
    if not PASSWORDS.matches(user.password_hash, password):
        return SignIn(None)
    if not user.active:
        return SignIn(None)
    throttle.forget_pair(session, email, network)
    if PASSWORDS.outdated(user.password_hash):
        user.password_hash = PASSWORDS.hash(password)
    user.last_login_at = now
    return SignIn(user)


def unlock(session: Session, email: str, actor: str) -> int:
    """Forget every failed sign-in of an account, from every address; how many there were."""
    user = _existing(session, email)
    forgotten = throttle.forget_account(session, user.email)
    audit.record(
        session,
        actor=actor,
        action=audit.Action.USER_UNLOCK,
        object_type=audit.ObjectType.USER,
        object_id=user.id,
        summary=user.email,
        after={"forgotten": forgotten},
    )
    return forgotten


def reset_password(session: Session, email: str, new: str, actor: str) -> User:
    """An admin sets a new password: the account is signed out everywhere and unlocked."""
    user = _existing(session, email)
    replace_password(session, user, new, actor, audit.Action.USER_RESET_PASSWORD)
    return user


def replace_password(
    session: Session, user: User, new: str, actor: str, action: audit.Action
) -> None:
    """Give `user` the password `new` (if strong enough, else AccountError), sign the account
    out everywhere and forget its failed sign-ins, audited as `action` by `actor`."""
    check_password_strength(new)
    user.password_hash = PASSWORDS.hash(new)
    user.password_changed_at = utcnow()
    ended = end_sessions(session, user)
    forgotten = throttle.forget_account(session, user.email)
    audit.record(
        session,
        actor=actor,
        action=action,
        object_type=audit.ObjectType.USER,
        object_id=user.id,
        summary=user.email,
        after={"sessions_ended": ended, "failures_forgotten": forgotten},
    )


def failed_sign_ins(session: Session) -> dict[str, int]:
    """Failed sign-ins of each account (by address) that still count, for the users page."""
    return throttle.recent_failures(session, utcnow())


def locked_accounts(session: Session) -> dict[str, datetime]:
    """Accounts (by address) that must wait to sign in from some address, and until when."""
    return throttle.locked_until(session, utcnow())


def generate_password() -> str:
    """A one-time password for a new or reset account: 16 characters, 96 random bits."""
    return secrets.token_urlsafe(12)


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.email)))


def addresses_with_role(session: Session, role: Role) -> list[str]:
    """The addresses of active staff who can act as `role` (editors include admins)."""
    users = session.scalars(select(User).where(User.active.is_(True)).order_by(User.email))
    return [user.email for user in users if user.role.allows(role)]
