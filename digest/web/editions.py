"""Editors' pages: build the week's draft, order it, preview each subscriber's cut, approve."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, Response, abort, flash, g, redirect, render_template, request, url_for
from sqlalchemy import select

from digest.delivery.transport import DeliveryError, Transport
from digest.editions import compose
from digest.editions.message import MailSettings, archive_url, build_message
from digest.editions.render import HTML_BUDGET, render_cut
from digest.keys import token_keys
from digest.models import (
    Edition,
    Newsletter,
    Role,
    Subscriber,
    Subscription,
)
from digest.subscriptions.overview import topic_cuts
from digest.web.security import requires

blueprint = Blueprint("editions", __name__, url_prefix="/editions")
# The preview shows the email as it is: its own inline styles, and nothing that runs.
PREVIEW_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; frame-ancestors 'self'"
)


def _edition(edition_id: int) -> Edition:
    found = g.db.get(Edition, edition_id)
    if found is None:
        abort(404)
    return found


@blueprint.get("")
@requires(Role.EDITOR)
def index() -> str:
    return render_template(
        "editions.html",
        editions=compose.list_editions(g.db),
        newsletters=g.db.scalars(select(Newsletter)).all(),
    )


@blueprint.post("/build")
@requires(Role.EDITOR)
def build() -> Response:
    newsletter = g.db.scalar(
        select(Newsletter).where(Newsletter.slug == request.form.get("newsletter", ""))
    )
    if newsletter is None:
        abort(404)
    try:
        built = compose.build_draft(g.db, newsletter, g.user.email)
    except compose.EditionError as exc:
        flash(f"Not built: {exc}.")
        return redirect(url_for("editions.index"))
    g.db.commit()
    if built is None:
        flash(f"Nothing accepted for {newsletter.title} since the last edition: no edition.")
        return redirect(url_for("editions.index"))
    return redirect(url_for("editions.edit", edition_id=built.id))


@blueprint.get("/<int:edition_id>")
@requires(Role.EDITOR)
def edit(edition_id: int) -> str:
    edition = _edition(edition_id)
    everything = render_cut(edition, None, archive_url(edition, MailSettings.from_env()))
    waiting = compose.waiting_items(g.db, edition.newsletter_id)
    return render_template(
        "edition.html",
        edition=edition,
        cuts=topic_cuts(g.db, edition.newsletter_id),
        size=len(everything.html.encode()),
        budget=HTML_BUDGET,
        waiting=waiting,
    )


def _change(edition_id: int, change: Callable[[Edition], object], done: str) -> Response:
    edition = _edition(edition_id)
    try:
        change(edition)
    except compose.EditionError as exc:
        g.db.rollback()
        flash(f"Not changed: {exc}.")
    else:
        g.db.commit()
        flash(done)
    return redirect(url_for("editions.edit", edition_id=edition_id))


@blueprint.post("/<int:edition_id>/text")
@requires(Role.EDITOR)
def set_text(edition_id: int) -> Response:
    return _change(
        edition_id,
        lambda e: compose.set_text(
            g.db, e, request.form.get("subject", ""), request.form.get("intro", ""), g.user.email
        ),
        "Saved the subject and introduction.",
    )


@blueprint.post("/<int:edition_id>/items")
@requires(Role.EDITOR)
def change_items(edition_id: int) -> Response:
    item_id = int(request.form.get("item", "0") or 0)
    action = request.form.get("action", "")
    edition = _edition(edition_id)
    position = next((e.position for e in edition.entries if e.item_id == item_id), 0)
    changes: dict[str, Callable[[Edition], object]] = {
        "up": lambda e: compose.move_item(g.db, e, item_id, position - 1, g.user.email),
        "down": lambda e: compose.move_item(g.db, e, item_id, position + 1, g.user.email),
        "remove": lambda e: compose.remove_item(g.db, e, item_id, g.user.email),
        "add": lambda e: compose.add_item(g.db, e, item_id, g.user.email),
    }
    if action not in changes:
        abort(400)
    return _change(edition_id, changes[action], "Updated the items.")


@blueprint.post("/<int:edition_id>/state")
@requires(Role.EDITOR)
def set_state(edition_id: int) -> Response:
    action = request.form.get("action", "")
    changes: dict[str, Callable[[Edition], object]] = {
        "approve": lambda e: compose.approve(g.db, e, g.user.email),
        "unapprove": lambda e: compose.unapprove(g.db, e, g.user.email),
        "cancel": lambda e: compose.cancel(g.db, e, g.user.email),
    }
    if action not in changes:
        abort(400)
    return _change(edition_id, changes[action], f"Done: {action}.")


@blueprint.get("/<int:edition_id>/preview")
@requires(Role.EDITOR)
def preview(edition_id: int) -> Response:
    """The email exactly as a subscriber with the chosen topics would get it."""
    edition = _edition(edition_id)
    topics = frozenset(t for t in request.args.get("topics", "").split(",") if t)
    settings = MailSettings.from_env()
    rendered = render_cut(edition, topics or None, archive_url(edition, settings))
    page, text = rendered.personalise(
        {"unsubscribe_url": "#unsubscribe", "preferences_url": "#preferences", "name": "colleague"}
    )
    if request.args.get("format") == "text":
        response = Response(text, mimetype="text/plain")
    else:
        response = Response(page, mimetype="text/html")
    response.headers["Content-Security-Policy"] = PREVIEW_POLICY
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response


@blueprint.post("/<int:edition_id>/test")
@requires(Role.EDITOR)
def send_test(edition_id: int) -> Response:
    """Send the whole edition to the editor's own address. (Its personal links name no real
    subscription, so they lead to a "not valid" page.)"""
    edition = _edition(edition_id)
    settings = MailSettings.from_env()
    # Transient objects, never added to the session: a test send leaves no subscriber behind.
    test = Subscription(
        id=0, newsletter=edition.newsletter, subscriber=Subscriber(email=g.user.email, name="")
    )
    rendered = render_cut(edition, None, archive_url(edition, settings))
    raw = build_message(edition, test, rendered, settings, token_keys())
    try:
        Transport.from_env().send(edition.newsletter.from_address, g.user.email, raw)
    except DeliveryError as exc:
        flash(f"The test was not sent: {exc}.")
    else:
        flash(f"A test was sent to {g.user.email}.")
    return redirect(url_for("editions.edit", edition_id=edition_id))
