"""The staff accounts page: add accounts, set roles, disable and enable them, unlock them,
and email a member of staff a link to choose a new password. Disabling asks first."""

from __future__ import annotations

from flask import (
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)

from digest import accounts
from digest.accounts import reset
from digest.models import Role, User
from digest.web import confirm
from digest.web.admin.routes import blueprint
from digest.web.auth import reset_link
from digest.web.context import settings
from digest.web.inputs import choice
from digest.web.security import is_submission, requires
from digest.wording import count as counted

ROLES = [r.value for r in Role]


def _users_page(error: str | None = None) -> str:
    return render_template(
        "users.html",
        users=accounts.list_users(g.db),
        failures=accounts.failed_sign_ins(g.db),
        locked=accounts.locked_accounts(g.db),
        roles=list(Role),
        error=error,
    )


@blueprint.route("/users", methods=["GET", "POST"])
@requires(Role.ADMIN)
def users() -> str | Response | tuple[str, int]:
    error = None
    if is_submission():
        try:
            user = accounts.create_user(
                g.db,
                request.form.get("email", ""),
                Role(choice("role", ROLES, default=Role.LIBRARIAN.value)),
                request.form.get("password", ""),
                g.user.email,
            )
        except (accounts.AccountError, ValueError) as exc:
            error = f"Not added: {exc}."
        else:
            g.db.commit()
            flash(f"Added {user.email}.", "success")
            return redirect(url_for("admin.users"))
    page = _users_page(error)
    return (page, 400) if error else page


def _ask_disable(user: User) -> tuple[str, int]:
    browsers = accounts.signed_in_browsers(g.db, user)
    signed_out = (
        f"They are signed out of the {counted(browsers, 'browser')} they are signed in on, and "
        if browsers
        else "They "
    )
    return confirm.ask(
        f"Disable {user.email}?",
        detail=f"{signed_out}cannot sign in until an admin enables the account again.",
        yes=f"Disable {user.email}",
        back=url_for("admin.users"),
        undo="It can be enabled again from this page; its sessions do not come back.",
    )


@blueprint.post("/users/<int:user_id>")
@requires(Role.ADMIN)
def update_user(user_id: int) -> Response | tuple[str, int]:
    user = accounts.get_user_by_id(g.db, user_id)
    if user is None:
        abort(404)
    if user.id == g.user.id:
        flash("You cannot change your own role or lock yourself out.", "error")
        return redirect(url_for("admin.users"))
    action = request.form.get("action")
    active = request.form.get("active")
    # Read before anything is asked or done: a bad role is refused at once.
    role = Role(choice("role", ROLES)) if request.form.get("role") else None
    if active == "0" and user.active and not confirm.confirmed():
        return _ask_disable(user)
    if action == "send_reset_link":
        return _send_reset_link(user)
    if action == "unlock":
        forgotten = accounts.unlock(g.db, user.email, g.user.email)
        g.db.commit()
        failures = counted(forgotten, "failed sign-in")
        flash(f"Unlocked {user.email}: {failures} forgotten.", "success")
        return redirect(url_for("admin.users"))
    if role is not None:
        accounts.set_role(g.db, user.email, role, g.user.email)
    if active in ("0", "1"):
        accounts.set_active(g.db, user.email, active == "1", g.user.email)
    g.db.commit()
    done = {"0": "Disabled", "1": "Enabled"}.get(active or "", "Updated")
    flash(f"{done} {user.email}.", "success")
    return redirect(url_for("admin.users"))


def _send_reset_link(user: User) -> Response:
    if not user.active:
        flash(f"Not sent: {user.email} is disabled. Enable the account first.", "error")
        return redirect(url_for("admin.users"))
    mail = reset.send_reset_link(g.db, user, settings().secret(), reset_link, g.user.email)
    if mail is None:
        g.db.rollback()
        flash("Not sent: there is no newsletter to send system mail from.", "error")
        return redirect(url_for("admin.users"))
    g.db.commit()
    g.reset_mail_queued = True
    flash(
        f"Emailed {user.email} a link to choose a new password; it lasts an hour. "
        "Their password stays as it is until they use it.",
        "success",
    )
    return redirect(url_for("admin.users"))


@blueprint.teardown_request
def _wake_the_mail_sender(_error: BaseException | None) -> None:
    """The reset email goes from the public forms' sender, once the answer is made."""
    if g.pop("reset_mail_queued", False):
        current_app.extensions["digest.mail_requests"].wake()
