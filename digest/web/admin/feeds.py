"""The feeds page: each feed's health; add, edit, pause, resume, poll and delete feeds, and
import OPML. Deleting asks first, naming how many items stay."""

from __future__ import annotations

from datetime import timedelta

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

from digest import audit
from digest.config.sources import OAI_METADATA_PREFIXES, OAI_OPTIONS
from digest.curation.topics import all_topics
from digest.ingest import health
from digest.ingest.counts import items_per_feed
from digest.ingest.edit import (
    SOURCE_LABELS,
    FeedFormError,
    delete_feed,
    feed_items,
    feed_values,
    newsletters,
    polled_feed,
    polled_feeds,
    save_feed,
    set_paused,
    source_type,
)
from digest.ingest.fetch import FetchSettings
from digest.ingest.opml import OpmlError, import_opml
from digest.ingest.poll import poll_feeds
from digest.ingest.sources import service_access
from digest.models import Feed, Role
from digest.timeutil import utcnow
from digest.web import confirm
from digest.web.admin.routes import blueprint
from digest.web.context import settings
from digest.web.security import is_submission, requires
from digest.wording import count as counted


@blueprint.get("/feeds")
@requires(Role.ADMIN)
def feeds() -> str:
    counts = items_per_feed(g.db)
    this_week = items_per_feed(g.db, since=utcnow() - timedelta(days=7))
    rows = polled_feeds(g.db)
    return render_template(
        "feeds.html",
        feeds=rows,
        counts=counts,
        this_week=this_week,
        health=health,
        newsletters=newsletters(g.db),
        labels=SOURCE_LABELS,
        source_type=source_type,
    )


def _feed(feed_id: int) -> Feed:
    feed = polled_feed(g.db, feed_id)
    if feed is None:
        abort(404)
    return feed


def _set_paused(feed_id: int, paused: bool) -> Response:
    feed = _feed(feed_id)
    set_paused(g.db, feed, paused, g.user.email, f"Paused by {g.user.email}.")
    g.db.commit()
    flash(f"{'Paused' if paused else 'Resumed'} “{feed.name}”.", "success")
    return redirect(url_for("admin.feeds"))


@blueprint.post("/feeds/<int:feed_id>/pause")
@requires(Role.ADMIN)
def pause(feed_id: int) -> Response:
    return _set_paused(feed_id, True)


@blueprint.post("/feeds/<int:feed_id>/resume")
@requires(Role.ADMIN)
def resume(feed_id: int) -> Response:
    return _set_paused(feed_id, False)


@blueprint.post("/feeds/<int:feed_id>/poll")
@requires(Role.ADMIN)
def poll_now(feed_id: int) -> Response:
    feed = _feed(feed_id)
    name = feed.name
    g.db.rollback()  # the poll writes through its own sessions
    fetching = FetchSettings(max_entries=settings().max_entries_per_feed)
    sessions = current_app.extensions["digest.sessions"]
    access = service_access(settings())
    (outcome,) = poll_feeds(sessions, [name], settings=fetching, source_access=access).outcomes
    audit.record(
        g.db,
        actor=g.user.email,
        action=audit.Action.FEED_POLL,
        object_type=audit.ObjectType.FEED,
        object_id=feed_id,
        summary=name,
        after={"result": outcome.status.value, "new": outcome.counts.new},
    )
    g.db.commit()
    note = f" {outcome.problem.message}" if outcome.problem else ""
    found = counted(outcome.counts.new, "new item")
    flash(
        f"Polled “{name}”: {outcome.status.value}, {found}.{note}",
        "error" if outcome.problem else "success",
    )
    return redirect(url_for("admin.feeds"))


@blueprint.post("/feeds/<int:feed_id>/delete")
@requires(Role.ADMIN)
def delete(feed_id: int) -> Response | tuple[str, int]:
    feed = _feed(feed_id)
    if not confirm.confirmed():
        items = feed_items(g.db, feed)
        stay = "stays" if items == 1 else "stay"
        return confirm.ask(
            f"Delete the feed “{feed.name}”?",
            detail=(
                f"It is no longer polled. Its {counted(items, 'item')} {stay}, with their "
                "topics and editions."
                if items
                else "It is no longer polled. It has no items."
            ),
            yes="Delete the feed",
            back=url_for("admin.feeds"),
        )
    name = feed.name
    items = delete_feed(g.db, feed, g.user.email)
    g.db.commit()
    stay = "stays" if items == 1 else "stay"
    flash(f"Deleted the feed “{name}”; its {counted(items, 'item')} {stay}.", "success")
    return redirect(url_for("admin.feeds"))


# The form's fields by name, as the page labels them (for the list of problems).
FIELDS = {
    "name": "Name",
    "type": "What it is",
    "url": "Address",
    "query": "Query",
    "options": "Catalogue settings",
    "newsletter": "Newsletter",
    "section": "Section",
    "topics": "Default topics",
    "poll_interval": "Poll every",
}


def _options(kind: str, feed: Feed | None) -> dict[str, str]:
    """A catalogue's settings from the form; a search's or a journal's, which the form does
    not show, as they were."""
    if kind == "oai-pmh":
        given = {key: request.form.get(f"option_{key}", "").strip() for key in OAI_OPTIONS}
        return {key: value for key, value in given.items() if value}
    if feed is not None and source_type(feed) == kind:
        return dict(feed.source_options or {})
    return {}


def _feed_form_values(feed: Feed | None) -> dict[str, object]:
    form = request.form
    kind = form.get("type") or "feed"
    return {
        "name": form.get("name", ""),
        "type": kind,
        "url": form.get("url", "").strip(),
        "query": form.get("query", "").strip() or None,
        "options": _options(kind, feed),
        "newsletter": form.get("newsletter", ""),
        "section": form.get("section", ""),
        "topics": form.getlist("topics"),
        "poll_interval": form.get("poll_interval") or "1h",
        "enabled": form.get("enabled") == "on",
        "allow_private_network": form.get("allow_private_network") == "on",
    }


def _feed_form(feed: Feed | None) -> str | Response | tuple[str, int]:
    values = feed_values(feed) if feed else {"poll_interval": "1h", "enabled": True, "topics": []}
    problems: dict[str, str] = {}
    if is_submission():
        values = _feed_form_values(feed)
        try:
            saved = save_feed(g.db, values, g.user.email, feed)
        except FeedFormError as exc:
            problems = exc.problems
            g.db.rollback()
        else:
            g.db.commit()
            flash(f"Saved “{saved.name}”; it will be polled at the next poll.", "success")
            return redirect(url_for("admin.feeds"))
    page = render_template(
        "feed_form.html",
        feed=feed,
        values=values,
        problems=problems,
        fields=FIELDS,
        newsletters=newsletters(g.db),
        topics=all_topics(g.db),
        labels=SOURCE_LABELS,
        option_names=OAI_OPTIONS,
        prefixes=OAI_METADATA_PREFIXES,
    )
    return (page, 400) if problems else page


@blueprint.route("/feeds/new", methods=["GET", "POST"])
@requires(Role.ADMIN)
def add_feed() -> str | Response | tuple[str, int]:
    return _feed_form(None)


@blueprint.route("/feeds/<int:feed_id>/edit", methods=["GET", "POST"])
@requires(Role.ADMIN)
def edit_feed(feed_id: int) -> str | Response | tuple[str, int]:
    return _feed_form(_feed(feed_id))


@blueprint.post("/feeds/import-opml")
@requires(Role.ADMIN)
def import_feeds() -> Response:
    upload = request.files.get("opml")
    if upload is None or not upload.filename:
        flash("Choose an OPML file to import.", "error")
        return redirect(url_for("admin.feeds"))
    try:
        report = import_opml(
            g.db, upload.read(), request.form.get("newsletter", ""), request.form.get("section", "")
        )
    except OpmlError as exc:
        g.db.rollback()
        flash(f"Not imported: {exc}.", "error")
        return redirect(url_for("admin.feeds"))
    audit.record(
        g.db,
        actor=g.user.email,
        action=audit.Action.FEED_IMPORT_OPML,
        object_type=audit.ObjectType.FEED,
        object_id=None,
        summary=upload.filename,
        after={"added": report.added, "updated": report.updated},
    )
    g.db.commit()
    skipped = "".join(f" Skipped {reason}." for reason in report.skipped)
    flash(
        f"Imported {upload.filename}: {counted(len(report.added), 'feed')} added, "
        f"{len(report.updated):,} updated.{skipped}",
        "success",
    )
    return redirect(url_for("admin.feeds"))
