"""Staff accounts: creating them, signing in (with throttling), and roles."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from digest import audit
from digest.models import LoginFailure, Role, User, WebSession
from digest.timeutil import utcnow

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024  # far beyond any passphrase; argon2 need not read megabytes
MAX_EMAIL_LENGTH = 320  # 64 before the @, 255 after (RFC 3696, as corrected)
MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)
_hasher = PasswordHasher()
# Verifying against this when the address is unknown makes both answers take as long.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class AccountError(ValueError):
    """A request about an account that cannot be granted; the message says why."""


@dataclass(frozen=True)
class SignIn:
    user: User | None
    throttled: bool = False


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
    user = User(email=email, role=role, password_hash=_hasher.hash(password))
    session.add(user)
    session.flush()
    audit.record(
        session,
        actor,
        "user.create",
        "user",
        user.id,
        f"{email} as {role}",
        after={"email": email, "role": role.value},
    )
    return user


def set_role(session: Session, email: str, role: Role, actor: str) -> User:
    user = _existing(session, email)
    before = user.role
    user.role = role
    audit.record(
        session,
        actor,
        "user.set_role",
        "user",
        user.id,
        f"{user.email}: {role}",
        before={"role": before.value},
        after={"role": role.value},
    )
    return user


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
        actor,
        "user.enable" if active else "user.disable",
        "user",
        user.id,
        user.email,
        before={"active": before},
        after={"active": active},
    )
    return user


def change_password(session: Session, user: User, current: str, new: str) -> None:
    if not _verify(user.password_hash, current):
        raise AccountError("the current password is not right")
    check_password_strength(new)
    user.password_hash = _hasher.hash(new)
    user.password_changed_at = utcnow()
    audit.record(session, user.email, "user.change_password", "user", user.id, user.email)


def _existing(session: Session, email: str) -> User:
    user = get_user(session, email)
    if user is None:
        raise AccountError(f"there is no account for {email}")
    return user


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _recent_failures(session: Session, column: object, value: str, now: datetime) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(LoginFailure)
            .where(column == value, LoginFailure.at > now - FAILURE_WINDOW)
        )
        or 0
    )


def sign_in(session: Session, typed_email: str, password: str, ip: str) -> SignIn:
    """Check a password. After 5 failures in 15 minutes for an account or from an address,
    further tries are refused unchecked until the window has passed."""
    now = utcnow()
    email = sign_in_address(typed_email)
    if email is None or len(password) > MAX_PASSWORD_LENGTH:
        return SignIn(None)
    if (
        _recent_failures(session, LoginFailure.email, email, now) >= MAX_FAILURES
        or _recent_failures(session, LoginFailure.ip, ip, now) >= MAX_FAILURES
    ):
        return SignIn(None, throttled=True)
    user = get_user(session, email)
    if not _verify(user.password_hash if user else _DUMMY_HASH, password) or not (
        user and user.active
    ):
        session.add(LoginFailure(email=email, ip=ip, at=now))
        return SignIn(None)
    session.execute(delete(LoginFailure).where(LoginFailure.email == email))
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    user.last_login_at = now
    return SignIn(user)


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.email)))


def addresses_with_role(session: Session, role: Role) -> list[str]:
    """The addresses of active staff who can act as `role` (editors include admins)."""
    users = session.scalars(select(User).where(User.active.is_(True)).order_by(User.email))
    return [user.email for user in users if user.role.allows(role)]
