"""Who may do what: route access declared on every view, sessions, secret key, headers."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import (
    Flask,
    Response,
    abort,
    current_app,
    flash,
    g,
    has_request_context,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.sessions import SecureCookieSessionInterface
from sqlalchemy import delete, event, or_
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker

from digest.models import Role, User, WebSession
from digest.networks import client_address, user_agent
from digest.timeutil import utcnow

F = TypeVar("F", bound=Callable[..., Any])
PUBLIC = "public"
SESSION_KEY = "sid"
# Methods that only look. HEAD is a GET without the body: link checkers and mail-security
# gateways send it to every link in a message, and Flask-WTF checks no CSRF token on it.
LOOKING = frozenset({"GET", "HEAD", "OPTIONS"})
LOOKING_ONLY = "digest.looking_only"  # in Session.info: this request may not write
LAST_SEEN_STEP = timedelta(seconds=60)  # how stale last_seen_at may get before it is written


class SessionCookies(SecureCookieSessionInterface):
    """Flask's cookie session, marked Secure when the visitor came over HTTPS: by the
    request's own scheme (a trusted proxy's X-Forwarded-Proto: DIGEST_TRUSTED_PROXIES), or
    always with DIGEST_HTTPS=1 (SESSION_COOKIE_SECURE)."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or (
            has_request_context() and request.scheme == "https"
        )


@dataclass(frozen=True)
class SessionLimits:
    """How long a signed-in browser stays signed in: `idle` since it was last used, and
    `lifetime` since it signed in, whatever it does. Both are checked on the server against
    the session's stored times, so a copied cookie expires like the original."""

    idle: timedelta
    lifetime: timedelta

    def expired(self, row: WebSession, now: datetime) -> bool:
        return now - row.last_seen_at > self.idle or now - row.created_at > self.lifetime


def _limits() -> SessionLimits:
    return current_app.config["SESSION_LIMITS"]


CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def public(view: F) -> F:
    """Anyone may open this route."""
    view._access = PUBLIC  # type: ignore[attr-defined]
    return view


def requires(role: Role) -> Callable[[F], F]:
    """Only signed-in staff with at least `role` may open this route."""

    def mark(view: F) -> F:
        view._access = role  # type: ignore[attr-defined]
        return view

    return mark


def access_of(app: Flask, endpoint: str | None) -> str | Role | None:
    """The access a route declares; None for a route that forgot to (it is then refused)."""
    if endpoint == "static":
        return PUBLIC
    view = app.view_functions.get(endpoint or "")
    return getattr(view, "_access", None)


def check_access(app: Flask) -> Response | None:
    """Run before every request: fail closed on undeclared routes, check the role."""
    if request.endpoint is None:
        return None  # 404 or 405 follow
    needed = access_of(app, request.endpoint)
    if needed is None:
        abort(403)
    if needed == PUBLIC:
        return None
    user: User | None = g.user
    if user is None:
        if request.method not in LOOKING or request.headers.get("HX-Request"):
            return session_ended()  # htmx would follow a redirect and swap the sign-in page in
        if g.get("session_expired"):
            flash(
                "You were signed out because your session had ended. Please sign in again.", "error"
            )
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    assert isinstance(needed, Role)
    if not user.role.allows(needed):
        abort(403)
    return None


# A change sent once the staff session has ended: what the page says, and the form fields
# never carried over to the sign-in page (its own token, where to go, secrets).
SESSION_ENDED = "Your session has ended, so this was not done. Sign in again to carry on."
NOT_KEPT = frozenset({"csrf_token", "back", "next"})
KEPT = "kept:"  # the prefix of a kept field's name on the sign-in form
KEPT_ACTION = "kept_action"  # the address the kept fields were sent to


def staff_session_gone() -> bool:
    """True for a request to a staff page from a browser with no staff session left: it
    expired, or was signed out in another tab (which also took the form token with it)."""
    needed = access_of(current_app, request.endpoint)
    return isinstance(needed, Role) and not session.get(SESSION_KEY)


def session_ended() -> Response:
    """The answer to a change sent after the session ended: never a silent failure, never
    typed text lost. htmx gets a 401, which app.js turns into a message offering to sign in
    again (in a new tab) and then carry on; a plain form gets the sign-in page, which leads
    back to the form's page with what was typed put back (never saved: that needs the form
    sent again, with a fresh token)."""
    if request.endpoint == "auth.logout":  # signing out when already signed out: done
        flash("You are signed out.")
        return Response(render_template("login.html", next=""), 401)
    if request.headers.get("HX-Request"):
        return Response(SESSION_ENDED, 401, {"Content-Type": "text/plain; charset=utf-8"})
    kept = kept_fields()
    page = render_template(
        "login.html",
        next=_form_page(),
        kept=kept,
        kept_action=request.script_root + request.path if kept else "",
        error="Your session had ended, so this was not saved. Sign in again"
        + (" to get back to the form with what you typed." if kept else " to carry on."),
    )
    return Response(page, 401)


def _own_origin(address: str) -> bool:
    parts = urlsplit(address)
    return (parts.scheme, parts.netloc) == (request.scheme, request.host)


def _same_origin() -> bool:
    """Whether the browser says this request came from one of our own pages (Origin, else
    Referer): only then is what it sent put back into a form."""
    origin = request.headers.get("Origin")
    if origin is not None:
        return _own_origin(origin)
    return _own_origin(request.headers.get("Referer", ""))


def kept_fields() -> list[tuple[str, str]]:
    """The fields of a form sent after the session ended, to be put back into it after
    signing in again: only from our own pages, and never tokens or passwords."""
    if not _same_origin():
        return []
    return [
        (name, value)
        for name, value in request.form.items(multi=True)
        if name not in NOT_KEPT and "password" not in name.casefold()
    ]


def _form_page() -> str:
    """The page a form was sent from, on this site: its `back` field, else the Referer."""
    back = local_path(request.form.get("back"), "")
    if back or not _same_origin():
        return back
    page = urlsplit(request.headers.get("Referer", ""))
    return local_path(page.path + (f"?{page.query}" if page.query else ""), "")


def is_submission() -> bool:
    """True only for a POST: the one method on which a view may change anything. Every other
    method (HEAD above all) is answered as the GET it stands for."""
    return request.method == "POST"


class WriteWhileLooking(RuntimeError):
    """A GET or HEAD tried to change the database: a bug in a view, refused before it lands."""


def refuse_writes_when_looking(sessions: sessionmaker[Session]) -> None:
    """Make the database session of a GET or HEAD refuse to write (what a session marks with
    `LOOKING_ONLY`). The views branch on `is_submission`; this is the net under them, so that a
    view that forgets cannot let a link checker unsubscribe or confirm someone."""

    def refuse(session: Session, *_: object) -> None:
        if session.info.get(LOOKING_ONLY) and (
            session.new or session.deleted or any(session.is_modified(o) for o in session.dirty)
        ):
            raise WriteWhileLooking(f"a {request.method} request tried to change the database")

    def refuse_statement(state: ORMExecuteState) -> None:
        if state.session.info.get(LOOKING_ONLY) and (
            state.is_insert or state.is_update or state.is_delete
        ):
            raise WriteWhileLooking(f"a {request.method} request tried to change the database")

    event.listen(sessions, "before_flush", refuse)
    event.listen(sessions, "do_orm_execute", refuse_statement)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def load_user() -> None:
    """Find the signed-in user from the session cookie's token, if it is still valid."""
    g.user = None
    token = session.get(SESSION_KEY)
    if not token:
        return
    row = g.db.get(WebSession, _token_hash(token))
    if row is None or not row.user.active:
        session.pop(SESSION_KEY, None)
        return
    now = utcnow()
    if _limits().expired(row, now):
        g.db.delete(row)
        g.db.commit()
        session.pop(SESSION_KEY, None)
        g.session_expired = True  # said by the page that answers (`check_access`)
        return
    if now - row.last_seen_at > LAST_SEEN_STEP:  # cheap enough to keep roughly current
        row.last_seen_at = now
        g.db.commit()
    g.user = row.user


def start_session(user: User) -> None:
    """A fresh token for a fresh sign-in: whatever the browser held before is worthless."""
    session.clear()
    _forget_expired_sessions()
    token = secrets.token_urlsafe(32)
    g.db.add(
        WebSession(
            token_hash=_token_hash(token),
            user_id=user.id,
            ip=client_ip(),
            user_agent=user_agent(request.user_agent.string),
        )
    )
    session[SESSION_KEY] = token
    g.user = user


def _forget_expired_sessions() -> None:
    """Delete every session past its limits, whoever's: they could never be used again."""
    limits, now = _limits(), utcnow()
    g.db.execute(
        delete(WebSession).where(
            or_(
                WebSession.last_seen_at < now - limits.idle,
                WebSession.created_at < now - limits.lifetime,
            )
        )
    )


def end_session() -> None:
    token = session.get(SESSION_KEY)
    if token:
        g.db.execute(delete(WebSession).where(WebSession.token_hash == _token_hash(token)))
    session.clear()


def end_other_sessions(user: User) -> None:
    """After a password change, sign the user out everywhere else."""
    keep = _token_hash(session.get(SESSION_KEY, ""))
    g.db.execute(
        delete(WebSession).where(WebSession.user_id == user.id, WebSession.token_hash != keep)
    )


def local_path(target: str | None, default: str) -> str:
    """`target` if it is a path on this site, else `default`: never bounce to another host."""
    if (
        target
        and target.startswith("/")
        and not target.startswith(("//", "/\\"))
        and not urlsplit(target).netloc
    ):
        return target
    return default


def client_ip() -> str:
    """The visitor's address (a trusted proxy's word for it: DIGEST_TRUSTED_PROXIES), safe
    to store."""
    return client_address(request.remote_addr)


def add_security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response
