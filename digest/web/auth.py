"""Signing in and out, changing one's password, and choosing a new one by emailed link."""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from digest import accounts
from digest.accounts import reset
from digest.models import Role
from digest.timeutil import utcnow
from digest.web.context import settings
from digest.web.security import (
    KEPT,
    KEPT_ACTION,
    client_ip,
    end_other_sessions,
    end_session,
    is_submission,
    local_path,
    public,
    requires,
)
from digest.web.security import start_session as begin

blueprint = Blueprint("auth", __name__)


MAX_NEXT_LENGTH = 2000  # a longer "next" is not a page of ours; it is not echoed back


def _next() -> str:
    """Where to go after signing in: a path on this site, else nowhere in particular."""
    target = local_path(request.form.get("next"), "")
    return target if len(target) <= MAX_NEXT_LENGTH else ""


def _kept() -> dict[str, object]:
    """A form's fields kept through a sign-in that failed, to be tried again (see
    `security.session_ended`): they are only ever put back into the form they came from."""
    kept = [
        (name.removeprefix(KEPT), value)
        for name, value in request.form.items(multi=True)
        if name.startswith(KEPT)
    ]
    action = local_path(request.form.get(KEPT_ACTION), "")
    return {"kept": kept, "kept_action": action} if kept and action else {}


@blueprint.route("/login", methods=["GET", "POST"])
@public
def login() -> str | Response | tuple[str, int]:
    if not is_submission():
        return render_template("login.html", next=request.args.get("next", ""))
    email = request.form.get("email", "")
    result = accounts.sign_in(g.db, email, request.form.get("password", ""), client_ip())
    if result.user is None:
        g.db.commit()
        message = (
            "Too many failed attempts from here. "
            f"Try again in {result.refused.wait_words(utcnow())}."
            if result.refused
            else "That email address and password do not match."
        )
        return render_template(
            "login.html",
            next=_next(),
            email=accounts.sign_in_address(email) or "",
            error=message,
            **_kept(),
        ), 429 if result.refused else 401
    begin(result.user)
    g.db.commit()
    return redirect(_next() or url_for("dashboard.home"))


@blueprint.get("/signed-in")
@requires(Role.LIBRARIAN)
def signed_in() -> str:
    """Where signing in again in a new tab leads, after a session ended under a page left
    open: it says to go back to that page, which carries on (app.js hears of it)."""
    return render_template("signed_in.html")


@blueprint.post("/logout")
@requires(Role.LIBRARIAN)
def logout() -> Response:
    end_session()
    g.db.commit()
    flash("You are signed out.", "success")
    return redirect(url_for("auth.login"))


@blueprint.route("/account/password", methods=["GET", "POST"])
@requires(Role.LIBRARIAN)
def change_password() -> str | Response | tuple[str, int]:
    if not is_submission():
        return render_template("password.html")
    new = request.form.get("new_password", "")
    if new != request.form.get("confirm_password", ""):
        return render_template("password.html", error="The two new passwords differ."), 400
    try:
        accounts.change_password(g.db, g.user, request.form.get("current_password", ""), new)
    except accounts.AccountError as exc:
        return render_template("password.html", error=f"Not changed: {exc}."), 400
    end_other_sessions(g.user)
    g.db.commit()
    flash("Your password is changed; other signed-in browsers were signed out.", "success")
    return redirect(url_for("dashboard.home"))


# Forgotten passwords: a link by email (see `accounts.reset`).


def reset_link(token: str) -> str:
    """The full address of a reset link, for the email."""
    return settings().mail.base_url + url_for("auth.reset_password", token=token)


@blueprint.route("/login/forgot", methods=["GET", "POST"])
@public
def forgot_password() -> str | tuple[str, int]:
    """Asks for an address; answers the same for every address, known or not."""
    if not is_submission():
        return render_template("forgot_password.html", sent=False)
    try:
        reset.ask_for_reset(
            g.db, request.form.get("email", ""), client_ip(), settings().secret(), reset_link
        )
    except reset.TooManyResets as exc:
        g.db.rollback()
        return render_template("forgot_password.html", sent=False, error=f"Not now: {exc}."), 429
    except accounts.AccountError as exc:
        g.db.rollback()
        page = render_template("forgot_password.html", sent=False, error=f"Please check: {exc}.")
        return page, 400
    g.db.commit()
    g.reset_mail_queued = True
    return render_template("forgot_password.html", sent=True)


@blueprint.teardown_request
def _wake_the_mail_sender(_error: BaseException | None) -> None:
    """The email goes from the public forms' sender, woken once the answer is made, so that
    its work never shows in the answer's time."""
    if g.pop("reset_mail_queued", False):
        current_app.extensions["digest.mail_requests"].wake()


NO_STORE = {"Cache-Control": "no-store"}  # a page reached by a secret link is not kept


@blueprint.route("/login/reset/<token>", methods=["GET", "POST"])
@public
def reset_password(token: str) -> str | Response | tuple[str, int, dict[str, str]]:
    """Choose a new password from an emailed link: the same rules as changing it; the
    account is then signed out everywhere, and the link is dead."""
    try:
        user = reset.user_for_token(g.db, token, settings().secret())
    except reset.ResetLinkError as exc:
        return render_template("reset_password.html", dead=f"{exc}."), 400, NO_STORE
    if not is_submission():
        return render_template("reset_password.html", email=user.email), 200, NO_STORE
    new = request.form.get("new_password", "")
    error = None
    if new != request.form.get("confirm_password", ""):
        error = "The two new passwords differ."
    else:
        try:
            reset.set_password(g.db, token, new, settings().secret())
        except accounts.AccountError as exc:
            g.db.rollback()
            error = f"Not changed: {exc}."
    if error:
        page = render_template("reset_password.html", email=user.email, error=error)
        return page, 400, NO_STORE
    session.clear()  # whoever was signed in in this browser is signed out like the rest
    g.db.commit()
    flash(
        "Your new password is set, and you were signed out everywhere. Sign in with it.", "success"
    )
    return redirect(url_for("auth.login"))
