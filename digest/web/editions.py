"""Editors' pages: build the week's draft, order it, preview each subscriber's cut, approve."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy import select

from digest.citations import export as citation_export
from digest.curation.topics import expand_chosen
from digest.delivery import queue
from digest.delivery.proofs import send_proof
from digest.delivery.transport import DeliveryError
from digest.editions import approvals, compose
from digest.editions.cuts import empty_cut_warning, preview_cuts
from digest.editions.groups import grouped
from digest.editions.message import (
    archive_url,
)
from digest.editions.render import HTML_BUDGET, entries, full_size, render_cut
from digest.models import (
    Edition,
    EditionState,
    Newsletter,
    Role,
)
from digest.models.lookup import edition_by_id, newsletter_by_slug
from digest.subscriptions.overview import receiving
from digest.timeutil import utcnow
from digest.web import confirm
from digest.web.context import settings, transports
from digest.web.errors import try_change
from digest.web.inputs import choice, optional_int, required_int
from digest.web.security import requires
from digest.wording import count, date_text

blueprint = Blueprint("editions", __name__, url_prefix="/editions")
# The preview shows the email as it is: its own inline styles, and nothing that runs.
PREVIEW_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; frame-ancestors 'self'"
)


def _edition(edition_id: int) -> Edition:
    return edition_by_id(g.db, edition_id)


def download(text: str, media_type: str, filename: str) -> Response:
    """A file the browser saves under `filename` (ASCII: slugs and dates)."""
    return Response(
        text,
        content_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@blueprint.get("/<int:edition_id>/items.<fmt>")
@requires(Role.EDITOR)
def export_items(edition_id: int, fmt: str) -> Response:
    """An approved or sent edition's items as RIS or BibTeX, for a reference manager."""
    edition = _edition(edition_id)
    if fmt not in citation_export.FORMATS:
        abort(404)
    if edition.state not in (EditionState.APPROVED, EditionState.SENDING, EditionState.SENT):
        abort(409, "only an approved or sent edition's items can be exported")
    return download(*citation_export.export(edition, fmt))


@blueprint.get("")
@requires(Role.EDITOR)
def index() -> str:
    return render_template(
        "editions.html",
        editions=compose.list_editions(g.db),
        awaiting=approvals.awaiting_second_approver,
        newsletters=g.db.scalars(select(Newsletter)).all(),
    )


@blueprint.post("/build")
@requires(Role.EDITOR)
def build() -> Response | tuple[str, int]:
    newsletter = newsletter_by_slug(g.db, request.form.get("newsletter", ""))
    cancelled = compose.cancelled_this_week(g.db, newsletter)
    if cancelled is not None and not confirm.confirmed():
        return confirm.ask(
            f"The edition for the week of {date_text(cancelled.period_start)} was cancelled. "
            "Build a new draft for it?",
            detail=f"“{cancelled.subject}” becomes a draft again: its subject, introduction and "
            "items still waiting come back, with what was accepted since. It needs approving "
            "again.",
            yes="Build a new draft",
            back=url_for("editions.index"),
            undo="Cancel it again to undo this.",
        )
    try:
        built = compose.build_draft(g.db, newsletter, g.user.email, revive=True)
    except compose.EditionError as exc:
        flash(f"Not built: {exc}.", "error")
        return redirect(url_for("editions.index"))
    g.db.commit()
    if built is None:
        flash(
            f"Nothing accepted for {newsletter.title} since the last edition: no edition.", "error"
        )
        return redirect(url_for("editions.index"))
    if cancelled is not None:
        flash(
            f"The cancelled edition for the week of {date_text(built.period_start)} is a draft "
            f"again, with {count(len(built.entries), 'item')}.",
            "success",
        )
    return redirect(url_for("editions.edit", edition_id=built.id))


@blueprint.get("/<int:edition_id>")
@requires(Role.EDITOR)
def edit(edition_id: int) -> str:
    edition = _edition(edition_id)
    size = full_size(edition, archive_url(edition, settings().mail))
    frozen = edition.state is not EditionState.DRAFT
    items = entries(edition)
    cuts = preview_cuts(g.db, edition, items)
    warn = edition.intro and edition.state in (EditionState.DRAFT, EditionState.APPROVED)
    return render_template(
        "edition.html",
        edition=edition,
        frozen=frozen,
        preheader_chars=compose.PREHEADER_CHARS,
        groups=_groups(edition, items),
        sending=_sending(edition),
        cuts=cuts,
        empty_warning=(
            empty_cut_warning(cuts, edition.newsletter.note_when_nothing_matches) if warn else None
        ),
        size=size,
        budget=HTML_BUDGET,
        waiting=[] if frozen else compose.waiting_items(g.db, edition.newsletter_id),
        contributors=approvals.contributors_in_words(edition),
        awaiting=approvals.awaiting_second_approver(edition),
    )


# A section's heading, and each of its groups: (its id on the page, its topic, its items).
Shown = list[tuple[str, list[tuple[str, str, list[dict[str, Any]]]]]]


def _groups(edition: Edition, items: list[dict[str, Any]]) -> Shown:
    """The edition's items grouped as the email groups them, each knowing its item's id; each
    group numbered in page order (its number stays while items move within groups)."""
    with_ids = [
        {**item, "item_id": e.item_id} for item, e in zip(items, edition.entries, strict=True)
    ]
    numbers = itertools.count(1)
    return [
        (section, [(f"group-{next(numbers)}", topic, found) for topic, found in topics])
        for section, topics in grouped(with_ids)
    ]


def _sending(edition: Edition) -> dict[str, object] | None:
    """Counts, progress and the send over time, once sending has started."""
    if edition.state not in (EditionState.SENDING, EditionState.SENT):
        return None
    counts = queue.progress(g.db, edition.id)
    total = sum(counts.values())
    done = queue.dealt_with(counts)
    timeline = queue.timeline(g.db, edition.id)
    return {
        "counts": counts,
        "total": total,
        "done": done,
        "timeline": timeline,
        "peak": max((n for _, n in timeline), default=1),
    }


@blueprint.get("/<int:edition_id>/progress")
@requires(Role.EDITOR)
def progress(edition_id: int) -> str:
    """The live part of the edition page: polled while the edition is being sent."""
    edition = _edition(edition_id)
    sending = _sending(edition)
    if sending is None:
        abort(404)  # an edition not yet sending has no progress to show
    return render_template("edition_progress.html", edition=edition, sending=sending)


def _change(
    edition_id: int, change: Callable[[Edition], object], done: str | Callable[[Any], str]
) -> Response:
    """Make a change and say how it went: `done` (given what the change returned, when it is
    a function), or the sentence the change returns."""
    edition = _edition(edition_id)
    made, said = try_change(lambda: change(edition))
    if made:
        g.db.commit()
        if callable(done):
            flash(done(said), "success")
        else:
            flash(said if isinstance(said, str) else done, "success")
    return redirect(url_for("editions.edit", edition_id=edition_id))


@blueprint.post("/<int:edition_id>/text")
@requires(Role.EDITOR)
def set_text(edition_id: int) -> Response:
    return _change(
        edition_id,
        lambda e: compose.set_text(
            g.db,
            e,
            request.form.get("subject", ""),
            request.form.get("intro", ""),
            g.user.email,
            preheader=request.form.get("preheader"),
        ),
        "Saved the subject and introduction.",
    )


# Moves within a group: answered with the group alone when asked by script (htmx or a drag).
MOVES = ("up", "down", "move")


@blueprint.post("/<int:edition_id>/items")
@requires(Role.EDITOR)
def change_items(edition_id: int) -> Response | str:
    item_id = required_int("item")
    wanted = optional_int("position", low=0) or 0
    me = g.user.email
    changes: dict[str, tuple[Callable[[Edition], str], Callable[[str], str]]] = {
        "move": (
            lambda e: compose.move_item(g.db, e, item_id, wanted, me),
            lambda title: f"Moved “{title}” to place {wanted + 1} in its group.",
        ),
        "up": (
            lambda e: compose.move_item(g.db, e, item_id, _place(e, item_id) - 1, me),
            lambda title: f"Moved “{title}” up.",
        ),
        "down": (
            lambda e: compose.move_item(g.db, e, item_id, _place(e, item_id) + 1, me),
            lambda title: f"Moved “{title}” down.",
        ),
        "remove": (
            lambda e: compose.remove_item(g.db, e, item_id, me),
            lambda title: f"Removed “{title}”: it waits for the next edition.",
        ),
        "add": (
            lambda e: compose.add_item(g.db, e, item_id, me),
            lambda title: f"Added “{title}” at the end of its group.",
        ),
    }
    action = choice("action", changes)
    change, done = changes[action]
    if action in MOVES and request.headers.get("HX-Request"):
        return _moved_in_place(edition_id, item_id, change, done)
    return _change(edition_id, change, done)


def _place(edition: Edition, item_id: int) -> int:
    """Where the item is in its group (0 first)."""
    mates = [entry.item_id for entry in compose.group_mates(edition, item_id)]
    return mates.index(item_id)


def _moved_in_place(
    edition_id: int, item_id: int, change: Callable[[Edition], str], done: Callable[[str], str]
) -> Response | str:
    """A move asked by script: the item's group as it is now, to swap in without reloading
    the page, and a sentence for screen readers. When the move is refused, the page reloads
    (htmx's HX-Refresh) and shows the reason, which `try_change` has flashed."""
    edition = _edition(edition_id)
    made, title = try_change(lambda: change(edition))
    if not made:
        refused = Response(status=409)
        refused.headers["HX-Refresh"] = "true"
        return refused
    g.db.commit()
    group_id, topic, items = next(
        group
        for _, groups in _groups(edition, entries(edition))
        for group in groups
        if any(item["item_id"] == item_id for item in group[2])
    )
    return render_template(
        "_edition_group.html",
        edition=edition,
        group_id=group_id,
        topic=topic,
        items=items,
        movable=True,
        moved=item_id,
        said=done(title),
    )


@blueprint.post("/<int:edition_id>/state")
@requires(Role.EDITOR)
def set_state(edition_id: int) -> Response | tuple[str, int]:
    if request.form.get("action") in CONFIRM and not confirm.confirmed():
        return _ask(_edition(edition_id), request.form["action"])
    changes: dict[str, tuple[Callable[[Edition], object], str]] = {
        "approve": (_approve, "Approved: it goes out at the time shown."),
        "unapprove": (
            lambda e: compose.unapprove(g.db, e, g.user.email),
            "Un-approved: it can be changed again.",
        ),
        "cancel": (lambda e: compose.cancel(g.db, e, g.user.email), "Cancelled."),
        "send_now": (_send_now, "Sending has started: the counts below follow it."),
    }
    change, done = changes[choice("action", changes)]
    return _change(edition_id, change, done)


# The changes that cannot be taken back ask first, naming what will happen.
CONFIRM = ("send_now", "cancel")


def _ask(edition: Edition, action: str) -> tuple[str, int]:
    back = url_for("editions.edit", edition_id=edition.id)
    if action == "send_now":
        people = receiving(g.db, edition.newsletter_id)
        return confirm.ask(
            f"Send to {count(people, 'subscriber')} now?",
            detail=f"“{edition.subject}” goes out at once, not at its scheduled time.",
            yes=f"Send to {count(people, 'subscriber')} now",
            back=back,
        )
    return confirm.ask(
        f"Cancel “{edition.subject}”?",
        detail="It will not be sent. Its items go back to waiting for an edition.",
        yes="Cancel the edition",
        back=back,
    )


def _approve(edition: Edition) -> str | None:
    if compose.approve(g.db, edition, g.user.email):
        return None
    me = g.user.email
    return f"Approved by {me}; it needs a second editor other than {me} before it goes out."


def _send_now(edition: Edition) -> None:
    queue.start(g.db, edition, g.user.email)


@blueprint.get("/<int:edition_id>/preview")
@requires(Role.EDITOR)
def preview(edition_id: int) -> Response:
    """The email exactly as a subscriber with the chosen topics would get it."""
    edition = _edition(edition_id)
    topics = expand_chosen(g.db, (t for t in request.args.get("topics", "").split(",") if t))
    rendered = render_cut(edition, topics or None, archive_url(edition, settings().mail))
    page, text = rendered.personalise(
        {
            "unsubscribe_url": "#unsubscribe",
            "preferences_url": "#preferences",
            "name": "colleague",
            "email": "subscriber@example.org",
            "subscribed_on": date_text(utcnow()),
        }
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
    subscription: they lead to a page that says they came from a test.)"""
    edition = _edition(edition_id)
    try:
        send_proof(edition, g.user.email, settings().mail, settings().link_keys(), transports())
    except (DeliveryError, ValueError) as exc:  # ValueError: an address or text not sendable
        flash(f"The test was not sent: {exc}.", "error")
    else:
        flash(f"A test was sent to {g.user.email}.", "success")
    return redirect(url_for("editions.edit", edition_id=edition_id))
