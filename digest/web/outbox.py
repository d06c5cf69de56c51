"""The demo's outbox: the mail Digest has "sent" to a local Maildir, readable by staff.

Only in demo mode (DIGEST_DEMO=1) with a Maildir transport; otherwise the pages do not exist.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, render_template, request

from digest.delivery.outbox import listing, maildir_of, read
from digest.models import Role
from digest.web.context import settings, transports
from digest.web.editions import PREVIEW_POLICY
from digest.web.security import requires

blueprint = Blueprint("outbox", __name__, url_prefix="/outbox")


def _folder():
    folder = maildir_of(transports()[None])
    if not settings().demo or folder is None:
        abort(404)
    return folder


@blueprint.get("")
@requires(Role.LIBRARIAN)
def index() -> str:
    return render_template("outbox.html", messages=listing(_folder()))


@blueprint.get("/<key>")
@requires(Role.LIBRARIAN)
def message(key: str) -> Response | str:
    found = read(_folder(), key)
    if found is None:
        abort(404)
    if request.args.get("part") == "html":
        body = found.get_body(("html",))
        response = Response(body.get_content() if body else "", mimetype="text/html")
        response.headers["Content-Security-Policy"] = PREVIEW_POLICY
        response.headers["X-Frame-Options"] = "SAMEORIGIN"
        return response
    text = found.get_body(("plain",))
    return render_template(
        "outbox_message.html",
        key=key,
        message=found,
        headers=list(found.items()),
        text=text.get_content() if text else "",
        has_html=found.get_body(("html",)) is not None,
    )
