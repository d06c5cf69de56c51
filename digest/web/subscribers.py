"""Staff pages for subscribers: search, counts, growth as a chart, adding a person who gave
consent elsewhere (never one on the suppression list), and the export. Importing a list is in
`subscriber_import`, one subscriber's page and its actions in `subscriber_page`; their routes
are added to this blueprint below."""

from __future__ import annotations

import io
from datetime import date

from flask import Blueprint, Response, flash, g, redirect, render_template, request, send_file
from flask import url_for as url
from werkzeug.datastructures import MultiDict

from digest.curation.topics import offered_topics
from digest.models import Role
from digest.models.lookup import find_newsletter
from digest.subscriptions import lists
from digest.subscriptions.listfiles import person
from digest.subscriptions.overview import (
    PAGE_SIZE,
    counts,
    find_subscribers,
    growth,
    newsletters,
)
from digest.subscriptions.profile import subscriber_id_for
from digest.timeutil import utcnow
from digest.web import subscriber_import, subscriber_page
from digest.web.context import settings
from digest.web.inputs import choice, optional_int
from digest.web.security import is_submission, requires
from digest.wording import sentence, who

blueprint = Blueprint("subscribers", __name__, url_prefix="/subscribers")
CHART_WIDTH, CHART_HEIGHT = 640, 160
MAX_WORDS = 200  # characters of a search read, as every search box reads them


def _chart(points: list[tuple[object, int]]) -> dict[str, object]:
    """An SVG polyline of the weekly totals: drawn on the server, no script needed."""
    top = max((count for _, count in points), default=0) or 1
    step = CHART_WIDTH / max(1, len(points) - 1)
    coordinates = " ".join(
        f"{i * step:.1f},{CHART_HEIGHT - count / top * CHART_HEIGHT:.1f}"
        for i, (_, count) in enumerate(points)
    )
    return {
        "points": coordinates,
        "top": top,
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "first": points[0][0] if points else None,
        "last": points[-1] if points else None,
    }


@blueprint.get("")
@requires(Role.EDITOR)
def index() -> str:
    words = request.args.get("q", "")[:MAX_WORDS]
    page = optional_int("page") or 1
    rows, total = find_subscribers(g.db, words, page)
    return render_template(
        "subscribers.html",
        rows=rows,
        total=total,
        words=words,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
        counts=counts(g.db),
        chart=_chart(growth(g.db, utcnow())),
        newsletters=newsletters(g.db),
    )


@blueprint.route("/add", methods=["GET", "POST"])
@requires(Role.EDITOR)
def add() -> str | Response | tuple[str, int]:
    """Add one person to one or more newsletters, with where they gave consent. Refused, with
    the reason beside the field, for a bad address or one on the suppression list; nothing
    typed is lost."""
    form: MultiDict[str, str] = request.form if is_submission() else MultiDict()
    problems: dict[str, str] = {}
    if is_submission():
        problems = _add_person(form)
        if not problems:
            g.db.commit()
            email = person(form["email"], "", [], "").email
            return redirect(url("subscribers.show", subscriber_id=subscriber_id_for(g.db, email)))
        g.db.rollback()
    page = render_template(
        "subscriber_add.html",
        values=form,
        problems=problems,
        newsletters=newsletters(g.db),
        topics=offered_topics(g.db),
    )
    return (page, 400) if problems else page


def _add_person(form: MultiDict[str, str]) -> dict[str, str]:
    """Add the person the form names; the problems by field (none: added, not committed)."""
    address, name = form.get("email", "").strip(), form.get("name", "")
    source, topics = form.get("source", "").strip(), form.getlist("topic")
    problems: dict[str, str] = {}
    chosen = [find_newsletter(g.db, slug) for slug in dict.fromkeys(form.getlist("newsletter"))]
    if not address:
        problems["email"] = "Enter the person’s email address."
    else:
        try:
            person(address, name, topics, source)
        except ValueError as exc:
            problems["email"] = sentence(str(exc))
    if not chosen or None in chosen:
        problems["newsletter"] = "Choose at least one newsletter."
    origin = f"added by {g.user.email}: {source}"
    if not source:
        problems["source"] = (
            "Say where this person gave consent (a paper form at a conference, a phone call)."
        )
    else:
        try:
            lists.check_origin(origin)
        except ValueError as exc:
            problems["source"] = sentence(str(exc))
    if problems:
        return problems
    done: dict[lists.Outcome, list[str]] = {}
    for newsletter in chosen:
        assert newsletter is not None
        try:
            outcome = lists.add_subscriber(
                g.db,
                newsletter,
                address,
                name,
                topics,
                origin,
                settings().secret(),
                actor=g.user.email,
            )
        except lists.HeldBack as exc:
            return {"newsletter": sentence(f"Not added to {newsletter.title}: {exc}")}
        except ValueError as exc:  # a topic retired since the form was shown
            return {"topic": sentence(str(exc))}
        done.setdefault(outcome, []).append(newsletter.title)
    flash(_added(who(name.strip(), address), done), "success")
    return {}


def _added(person: str, done: dict[lists.Outcome, list[str]]) -> str:
    """E.g. "Added Zoë Ødegård <zoe@例え.jp> to CASPAR and New in the Library." """
    said = {
        lists.Outcome.NEW: "Added {person} to {titles}.",
        lists.Outcome.UPDATED: "Updated {person} in {titles}: they were already subscribed.",
        lists.Outcome.UNCHANGED: (
            "No change for {person} in {titles}: they were already subscribed with these choices."
        ),
    }
    return " ".join(
        said[outcome].format(person=person, titles=" and ".join(titles))
        for outcome, titles in done.items()
    )


@blueprint.post("/export")
@requires(Role.EDITOR)
def export() -> Response:
    """The newsletter's subscribers as the command line exports them, same columns, for the
    search shown (all of them without one)."""
    everything = newsletters(g.db)
    slug = choice("newsletter", [n.slug for n in everything])
    newsletter = next(n for n in everything if n.slug == slug)
    words = request.form.get("q", "")[:MAX_WORDS]
    text = io.StringIO()
    # A post, as it writes: the audit log's entry that this person took a copy of personal
    # data, committed before the file is handed over.
    count = lists.export(g.db, newsletter, text, actor=g.user.email, words=words)
    g.db.commit()
    response = send_file(
        io.BytesIO(text.getvalue().encode("utf-8")),
        mimetype="text/csv",
        as_attachment=True,
        download_name=f"{slug}-{date.today().isoformat()}.csv",
    )
    response.headers["X-Digest-Rows"] = str(count)
    response.headers["Cache-Control"] = "no-store"  # personal data: kept by no cache
    return response


for rule, view, methods in (
    ("/import", subscriber_import.upload, ["GET"]),
    ("/import/preview", subscriber_import.preview, ["POST"]),
    ("/import/apply", subscriber_import.apply, ["POST"]),
    ("/<int:subscriber_id>", subscriber_page.show, ["GET"]),
    ("/<int:subscriber_id>/unsubscribe", subscriber_page.unsubscribe, ["POST"]),
    ("/<int:subscriber_id>/erase", subscriber_page.erase, ["POST"]),
):
    blueprint.add_url_rule(rule, view_func=view, methods=methods)
blueprint.register_error_handler(413, subscriber_import.too_large)
