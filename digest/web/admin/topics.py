"""The topics page: add and rename topics; retire, restore and merge them. Merging and
retiring ask first, naming how many items, feeds and subscriptions it touches."""

from __future__ import annotations

from flask import Response, abort, flash, g, redirect, render_template, request, url_for

from digest.curation.topics import (
    TopicError,
    add_topic,
    all_topics,
    get_topic,
    merge,
    rename,
    set_retired,
    topic_use,
)
from digest.models import Role, Topic
from digest.web import confirm
from digest.web.admin.routes import blueprint
from digest.web.inputs import choice, optional_int, required_int
from digest.web.security import is_submission, requires
from digest.wording import count as counted


@blueprint.route("/topics", methods=["GET", "POST"])
@requires(Role.ADMIN)
def topics() -> str | Response | tuple[str, int]:
    error = None
    if is_submission():
        try:
            keywords = [k.strip() for k in request.form.get("keywords", "").split(",") if k.strip()]
            topic = add_topic(
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
            flash(f"Added the topic “{topic.label}”.", "success")
            return redirect(url_for("admin.topics"))
    page = render_template("topics.html", topics=all_topics(g.db), error=error)
    return (page, 400) if error else page


def _topic(topic_id: int) -> Topic:
    try:
        return get_topic(g.db, topic_id)
    except TopicError:
        abort(404)


def _carried(topic: Topic) -> str:
    """ "42 items and 1,204 subscriptions": what carries the topic, feeds only when some do."""
    use = topic_use(g.db, topic.id)
    parts = [counted(use.items, "item")]
    if use.feeds:
        parts.append(counted(use.feeds, "feed"))
    parts.append(counted(use.subscriptions, "subscription"))
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _ask_merge(gone: Topic, survivor: Topic) -> tuple[str, int]:
    return confirm.ask(
        f"Merge “{gone.label}” into “{survivor.label}”?",
        detail=f"{_carried(gone)} move to “{survivor.label}”; “{gone.label}” is removed.",
        yes=f"Merge into “{survivor.label}”",
        back=url_for("admin.topics"),
    )


def _ask_retire(topic: Topic) -> tuple[str, int]:
    return confirm.ask(
        f"Retire “{topic.label}”?",
        detail=(
            f"It stays on what carries it ({_carried(topic)}), but it is no longer offered "
            "to librarians tagging items or to people signing up."
        ),
        yes=f"Retire “{topic.label}”",
        back=url_for("admin.topics"),
        undo="It can be restored from the topics page.",
    )


@blueprint.post("/topics/<int:topic_id>")
@requires(Role.ADMIN)
def update_topic(topic_id: int) -> Response | tuple[str, int]:
    action = choice("action", ["rename", "retire", "restore", "merge"])
    topic = _topic(topic_id)
    if action == "merge" and not request.form.get("into"):
        flash(f"Not merged: choose the topic to merge “{topic.label}” into.", "error")
        return redirect(url_for("admin.topics"))
    if action == "merge" and required_int("into") == topic.id:
        flash(f"Not merged: “{topic.label}” cannot be merged into itself.", "error")
        return redirect(url_for("admin.topics"))
    if action == "merge" and not confirm.confirmed():
        return _ask_merge(topic, _topic(required_int("into")))
    if action == "retire" and not confirm.confirmed():
        return _ask_retire(topic)
    try:
        done = _update(topic, action)
    except TopicError as exc:
        g.db.rollback()
        flash(f"Not changed: {exc}.", "error")
        return redirect(url_for("admin.topics"))
    g.db.commit()
    flash(done, "success")
    return redirect(url_for("admin.topics"))


def _update(topic: Topic, action: str) -> str:
    """Make the change; the sentence that says it was made."""
    label = topic.label
    if action == "rename":
        rename(g.db, topic.id, request.form.get("label", ""), g.user.email)
        return f"Renamed “{label}” to “{topic.label}”."
    if action in ("retire", "restore"):
        set_retired(g.db, topic.id, action == "retire", g.user.email)
        return f"{'Retired' if action == 'retire' else 'Restored'} “{label}”."
    carried = _carried(topic)
    survivor = merge(g.db, topic.id, required_int("into"), g.user.email)
    return f"Merged “{label}” into “{survivor.label}”: {carried} now carry “{survivor.label}”."
