"""How the web app answers what could not be done: one handler for `digest.errors`, and the
pages for HTTP errors and expired forms. Whatever a request had written is rolled back first."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, Response, flash, g, render_template
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from digest.errors import DigestError, Invalid, NotFound, Refused, TooMany, Unavailable
from digest.web import security

# The most specific class first: an error may be of two kinds (a sign-up refused for being too
# many is also an invalid sign-up), and the first that matches decides.
STATUS: tuple[tuple[type[DigestError], int], ...] = (
    (TooMany, 429),
    (NotFound, 404),
    (Refused, 409),
    (Unavailable, 503),
    (Invalid, 400),
)

HTTP_MESSAGES = {
    401: "Please sign in.",
    403: "Your role does not allow this.",
    404: "There is nothing here.",
    405: "That action is not allowed here.",
}


def status_of(error: DigestError) -> int:
    return next((code for kind, code in STATUS if isinstance(error, kind)), 500)


def _undo() -> None:
    db = g.get("db")
    if db is not None:
        db.rollback()


def _page(code: int, message: str) -> tuple[str, int]:
    """Staff get the staff page, with their way back to the dashboard; anyone else gets a
    public page in the library's name, with its archive and sign-up."""
    if g.get("user") is not None:
        return render_template("error.html", code=code, message=message), code
    return render_template("public/error.html", code=code, message=message), code


def try_change(change: Callable[[], Any]) -> tuple[bool, Any]:
    """Make a change from a staff form: (True, what it returned); or, when the state of things
    refuses it, undo what it wrote, say why ("Not changed: …") and give (False, None). The
    page the form came from is shown again, with the reason on it."""
    try:
        result = change()
    except Refused as refusal:
        _undo()
        flash(f"Not changed: {refusal}.", "error")
        return False, None
    return True, result


def install(app: Flask) -> None:
    @app.errorhandler(DigestError)
    def refused(error: DigestError) -> tuple[str, int]:
        _undo()
        code = status_of(error)
        if code == 404:
            return _page(code, HTTP_MESSAGES[404])
        return _page(code, f"Not saved: {error}.")

    @app.errorhandler(CSRFError)
    def csrf_refused(error: CSRFError) -> tuple[str, int] | Response:
        if security.staff_session_gone():  # signed out in another tab: the token went too
            return security.session_ended()
        return _page(
            400,
            "This form has expired or did not come from this site. Reload the page and try again.",
        )

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[str, int]:
        code = error.code or 500
        return _page(code, HTTP_MESSAGES.get(code, error.description or ""))
