"""Admin pages: feed health, staff accounts, the audit log."""

from __future__ import annotations

from datetime import timedelta

from flask import (
    Blueprint,
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
from sqlalchemy import select

from digest import accounts, audit
from digest.curation.topics import TopicError, add_topic, all_topics, merge, rename, set_retired
from digest.ingest import health
from digest.ingest.counts import items_per_feed
from digest.ingest.edit import FeedFormError, feed_values, save_feed, set_paused
from digest.ingest.fetch import FetchSettings
from digest.ingest.opml import OpmlError, import_opml
from digest.ingest.poll import poll_feeds
from digest.models import Feed, FeedKind, Newsletter, Role
from digest.timeutil import utcnow
from digest.web.context import settings
from digest.web.inputs import choice, optional_date, optional_int, required_int
from digest.web.security import is_submission, requires

blueprint = Blueprint("admin", __name__, url_prefix="/admin")
AUDIT_PAGE = 100
ROLES = [r.value for r in Role]


@blueprint.get("/feeds")
@requires(Role.ADMIN)
def feeds() -> str:
    counts = items_per_feed(g.db)
    this_week = items_per_feed(g.db, since=utcnow() - timedelta(days=7))
    rows = g.db.scalars(select(Feed).where(Feed.kind == FeedKind.FEED).order_by(Feed.name)).all()
    return render_template(
        "feeds.html",
        feeds=rows,
        counts=counts,
        this_week=this_week,
        health=health,
        newsletters=g.db.scalars(select(Newsletter)).all(),
    )


def _feed(feed_id: int) -> Feed:
    feed = g.db.get(Feed, feed_id)
    if feed is None or feed.kind is not FeedKind.FEED:
        abort(404)
    return feed


def _set_paused(feed_id: int, paused: bool) -> Response:
    feed = _feed(feed_id)
    set_paused(g.db, feed, paused, g.user.email, f"Paused by {g.user.email}.")
    g.db.commit()
    flash(f"{'Paused' if paused else 'Resumed'} {feed.name}.")
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
    (outcome,) = poll_feeds(sessions, [name], settings=fetching).outcomes
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
    flash(f"Polled {name}: {outcome.status.value}, {outcome.counts.new} new.{note}")
    return redirect(url_for("admin.feeds"))


def _feed_form_values() -> dict[str, object]:
    form = request.form
    return {
        "name": form.get("name", ""),
        "url": form.get("url", ""),
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
        values = _feed_form_values()
        try:
            saved = save_feed(g.db, values, g.user.email, feed)
        except FeedFormError as exc:
            problems = exc.problems
            g.db.rollback()
        else:
            g.db.commit()
            flash(f"Saved {saved.name}; it will be polled at the next poll.")
            return redirect(url_for("admin.feeds"))
    page = render_template(
        "feed_form.html",
        feed=feed,
        values=values,
        problems=problems,
        newsletters=g.db.scalars(select(Newsletter)).all(),
        topics=all_topics(g.db),
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
        flash("Choose an OPML file to import.")
        return redirect(url_for("admin.feeds"))
    try:
        report = import_opml(
            g.db, upload.read(), request.form.get("newsletter", ""), request.form.get("section", "")
        )
    except OpmlError as exc:
        g.db.rollback()
        flash(f"Not imported: {exc}.")
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
        f"Imported {upload.filename}: {len(report.added)} feeds added, "
        f"{len(report.updated)} updated.{skipped}"
    )
    return redirect(url_for("admin.feeds"))


@blueprint.route("/topics", methods=["GET", "POST"])
@requires(Role.ADMIN)
def topics() -> str | Response | tuple[str, int]:
    error = None
    if is_submission():
        try:
            keywords = [k.strip() for k in request.form.get("keywords", "").split(",") if k.strip()]
            add_topic(
                g.db,
                request.form.get("slug", ""),
                request.form.get("label", ""),
                g.user.email,
                keywords,
                optional_int("parent"),
            )
        except TopicError as exc:
            g.db.rollback()
            error = f"Not added: {exc}."
        else:
            g.db.commit()
            flash(f"Added the topic {request.form.get('label')}.")
            return redirect(url_for("admin.topics"))
    page = render_template("topics.html", topics=all_topics(g.db), error=error)
    return (page, 400) if error else page


@blueprint.post("/topics/<int:topic_id>")
@requires(Role.ADMIN)
def update_topic(topic_id: int) -> Response:
    action = choice("action", ["rename", "retire", "restore", "merge"])
    try:
        if action == "rename":
            rename(g.db, topic_id, request.form.get("label", ""), g.user.email)
        elif action in ("retire", "restore"):
            set_retired(g.db, topic_id, action == "retire", g.user.email)
        else:
            survivor = merge(g.db, topic_id, required_int("into"), g.user.email)
            flash(f"Merged into {survivor.label}: its items and feeds now carry that topic.")
    except TopicError as exc:
        g.db.rollback()
        flash(f"Not changed: {exc}.")
        return redirect(url_for("admin.topics"))
    g.db.commit()
    return redirect(url_for("admin.topics"))


def _users_page(error: str | None = None, **extra: object) -> str:
    return render_template(
        "users.html",
        users=accounts.list_users(g.db),
        failures=accounts.failed_sign_ins(g.db),
        roles=list(Role),
        error=error,
        **extra,
    )


@blueprint.route("/users", methods=["GET", "POST"])
@requires(Role.ADMIN)
def users() -> str | Response | tuple[str, int]:
    error = None
    if is_submission():
        try:
            accounts.create_user(
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
            flash(f"Added {request.form.get('email')}.")
            return redirect(url_for("admin.users"))
    page = _users_page(error)
    return (page, 400) if error else page


@blueprint.post("/users/<int:user_id>")
@requires(Role.ADMIN)
def update_user(user_id: int) -> Response | tuple[str, int, dict[str, str]]:
    user = next((u for u in accounts.list_users(g.db) if u.id == user_id), None)
    if user is None:
        abort(404)
    if user.id == g.user.id:
        flash("You cannot change your own role or lock yourself out.")
        return redirect(url_for("admin.users"))
    action = request.form.get("action")
    if action == "reset_password":
        password = accounts.generate_password()
        accounts.reset_password(g.db, user.email, password, g.user.email)
        g.db.commit()
        # Shown once, on this page only: a flash would carry it in the cookie.
        page = _users_page(reset=(user.email, password))
        return page, 200, {"Cache-Control": "no-store"}
    if action == "unlock":
        forgotten = accounts.unlock(g.db, user.email, g.user.email)
        flash(f"Unlocked {user.email}: {forgotten} failed sign-ins forgotten.")
    if request.form.get("role"):
        accounts.set_role(g.db, user.email, Role(choice("role", ROLES)), g.user.email)
    if (active := request.form.get("active")) in ("0", "1"):
        accounts.set_active(g.db, user.email, active == "1", g.user.email)
    g.db.commit()
    if action != "unlock":
        flash(f"Updated {user.email}.")
    return redirect(url_for("admin.users"))


@blueprint.get("/audit")
@requires(Role.ADMIN)
def audit_log() -> str:
    filters = audit.AuditFilter(
        actor=request.args.get("actor") or None,
        action=request.args.get("action") or None,
        object_type=request.args.get("object") or None,
        since=optional_date("since"),
    )
    entries = g.db.scalars(audit.audit_query(filters).limit(AUDIT_PAGE)).all()
    return render_template("audit.html", entries=entries, args=request.args)
