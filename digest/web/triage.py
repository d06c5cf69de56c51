"""The triage inbox: list, filter and search items; accept, reject, place, tag and edit them.

A row is an item as one newsletter has it (a placement): the same report found for CASPAR and
for New in the Library has a row in each, decided on separately. Wording is the item's own.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from urllib.parse import urlsplit, urlunsplit

from flask import Blueprint, Response, abort, flash, g, redirect, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from digest.citations import item_citations
from digest.curation import decisions, duplicates, manual
from digest.curation.items import (
    ItemFilter,
    get_item,
    get_placement,
    open_duplicates,
    page_of_items,
)
from digest.curation.manual import ManualItemError, fetch_description
from digest.curation.paging import Cursor
from digest.curation.topic_names import TopicNameError, topic_named
from digest.curation.topics import all_topics, offered_topics
from digest.curation.wording import editable_text
from digest.errors import Refused
from digest.models import Feed, FeedKind, ItemStatus, Newsletter, Role, Topic
from digest.research.review import record_view
from digest.web.errors import try_change
from digest.web.inputs import choice, int_list, optional_date, optional_int, required_int
from digest.web.security import is_submission, local_path, requires
from digest.wording import count

blueprint = Blueprint("triage", __name__)
PAGE_SIZE = 50


STATUSES = [s.value for s in ItemStatus]
STATUS_DONE = {"accepted": "Accepted.", "rejected": "Rejected.", "new": "Back to new."}


def _filters() -> ItemFilter:
    status = choice("status", [*STATUSES, "all"], default="new")
    return ItemFilter(
        status=None if status == "all" else ItemStatus(status),
        feed_id=optional_int("feed"),
        newsletter_id=optional_int("newsletter"),
        section_id=optional_int("section"),
        topic_id=optional_int("topic"),
        since=optional_date("since"),
        until=optional_date("until"),
        text=request.args.get("q", "").strip()[:200],
    )


def _choices() -> dict[str, object]:
    """What the filter and edit controls offer."""
    # Every feed in one query, hand-added items' own too: a triage row shows its feeds, and
    # takes them from the session (`inbox`).
    feeds = g.db.scalars(select(Feed).order_by(Feed.name, Feed.id)).all()
    return {
        "feeds": [f for f in feeds if f.kind == FeedKind.FEED]
        + [f for f in feeds if f.kind == FeedKind.CATALOGUE],
        "all_feeds": feeds,  # held, so that the session keeps them for the rows
        "newsletters": g.db.scalars(
            select(Newsletter).options(selectinload(Newsletter.sections)).order_by(Newsletter.title)
        ).all(),
        "topics": offered_topics(g.db),
    }


def _cursor(name: str) -> Cursor | None:
    value = request.args.get(name, "")
    if not value:
        return None
    try:
        return Cursor.parse(value)
    except ValueError:
        abort(400, description=f"“{name}” is not a place in the list; go back to the first page.")


def _page_link(number: int, **start: Cursor | None) -> str:
    """The list with the same filters, from just past (or before) a row of this page."""
    kept = {k: v for k, v in request.args.items() if k not in ("page", "after", "before")}
    where = {name: str(cursor) for name, cursor in start.items() if cursor is not None}
    return url_for("triage.inbox", **kept, **where, page=number)


@blueprint.get("/items")
@requires(Role.LIBRARIAN)
def inbox() -> str:
    filters = _filters()
    # First: the filters' newsletters, sections, feeds and topics are those the rows show,
    # which the page then takes from the session rather than query again.
    choices = _choices()
    page = page_of_items(
        g.db,
        filters,
        optional_int("page") or 1,
        PAGE_SIZE,
        after=_cursor("after"),
        before=_cursor("before"),
        lookups_loaded=True,
    )
    return render_template(
        "items.html",
        page=page,
        newer=_page_link(page.number - 1, before=page.first) if page.number > 1 else None,
        older=_page_link(page.number + 1, after=page.last) if page.more else None,
        filters=filters,
        args=request.args,
        statuses=list(ItemStatus),
        look_alikes=open_duplicates(g.db, [p.item_id for p in page.placements]),
        triage_here=_triage_here(),
        **choices,
    )


@blueprint.route("/items/new", methods=["GET", "POST"])
@requires(Role.LIBRARIAN)
def add_item() -> str | Response | tuple[str, int]:
    """Add an item by hand: fetch a page's own description of itself, check it, save it."""
    form = request.form
    values = {
        "url": form.get("url", "").strip(),
        "title": form.get("title", ""),
        "summary": form.get("summary", ""),
        "authors": form.get("authors", ""),
        "section": form.get("section", ""),
        "doi": form.get("doi", ""),
        "pmid": form.get("pmid", ""),
        "isbn": form.get("isbn", ""),
    }
    error = None
    if is_submission() and form.get("action") == "fetch":
        try:
            page = fetch_description(values["url"])
        except ManualItemError as exc:
            error = f"Could not read that page: {exc}"
        else:
            values.update(
                url=page.url,
                title=page.title,
                summary=page.summary,
                authors="; ".join(page.authors),
                doi=page.doi or "",
                pmid=page.pmid or "",
                isbn=page.isbn or "",
            )
    elif is_submission():
        try:
            added = manual.add_item(
                g.db,
                values["title"],
                values["url"],
                values["summary"],
                optional_int("section") or 0,
                g.user.email,
                [a.strip() for a in values["authors"].split(";") if a.strip()],
                identifiers=manual.typed_identifiers(values["doi"], values["pmid"], values["isbn"]),
            )
        except ManualItemError as exc:
            g.db.rollback()
            error = f"Not added: {exc}."
        else:
            g.db.commit()
            flash("Added. Check its topics and accept it when ready.", "success")
            return redirect(url_for("triage.item", item_id=added.id))
    page = render_template("add_item.html", values=values, error=error, **_choices())
    return (page, 400) if error else page


def _triage_link(target: str | None) -> str:
    """`target` if it is the triage list of this site (any filters, page and row), else the
    list as it first opens: "Back to triage" never leads anywhere else."""
    inbox = url_for("triage.inbox")
    path = local_path(target, inbox)
    return path if urlsplit(path).path == inbox else inbox


def _triage_here() -> str:
    """The triage list as the person sees it (filters and page), for links that come back
    to it: this request's own address, or, for a row refreshed by htmx, the page's."""
    if request.endpoint == "triage.inbox":
        return request.full_path.rstrip("?")
    page = urlsplit(request.headers.get("HX-Current-URL", ""))
    return _triage_link(urlunsplit(("", "", page.path, page.query, "")))


@blueprint.get("/items/<int:item_id>")
@requires(Role.LIBRARIAN)
def item(item_id: int) -> str:
    found = get_item(g.db, item_id)
    return render_template(
        "item.html",
        item=found,
        triage_link=_triage_link(request.args.get("back")),
        editable_summary=editable_text(found.summary_html),
        history=duplicates.history(g.db, item_id),
        look_alikes=open_duplicates(g.db, [item_id]).get(item_id, []),
        citations=item_citations(found),
        record=record_view(g.db, found),
        **_choices(),
    )


def _row(placement_id: int, **problem: str) -> str:
    """One triage row as it is now; `problem` says, on the row, what could not be done."""
    placement = get_placement(g.db, placement_id)
    return render_template(
        "_item_row.html",
        placement=placement,
        look_alikes=open_duplicates(g.db, [placement.item_id]),
        triage_here=_triage_here(),
        **problem,
        **_choices(),
    )


def _is_htmx() -> bool:
    return bool(request.headers.get("HX-Request"))


def _back_to_item(placement_id: int) -> Response:
    """A plain form goes back to the page it came from (the item's, by default)."""
    fallback = url_for("triage.item", item_id=get_placement(g.db, placement_id).item_id)
    return redirect(local_path(request.form.get("back"), fallback))


def decide_then_back(change: Callable[[], object], done: str, fallback: str) -> Response:
    """A change from a plain form: made and said, then back where the form came from."""
    if try_change(change)[0]:
        g.db.commit()
        flash(done, "success")
    return redirect(local_path(request.form.get("back"), fallback))


def _apply(placement_id: int, change: Callable[[], object], done: str = "") -> str | Response:
    """A change to one row: htmx gets the row back, saying on it what could not be done; a
    plain form goes back where it came from, with the outcome said at the top."""
    if not _is_htmx():
        if try_change(change)[0]:
            g.db.commit()
            if done:
                flash(done, "success")
        return _back_to_item(placement_id)
    try:
        change()
    except Refused as refusal:
        g.db.rollback()
        return _row(placement_id, row_error=f"Not changed: {refusal}.")
    g.db.commit()
    return _row(placement_id)


@blueprint.post("/placements/<int:placement_id>/status")
@requires(Role.LIBRARIAN)
def set_status(placement_id: int) -> str | Response:
    status = choice("status", STATUSES)
    return _apply(
        placement_id,
        lambda: decisions.set_status(g.db, [placement_id], ItemStatus(status), g.user.email),
        STATUS_DONE[status],
    )


@blueprint.post("/placements/<int:placement_id>/place")
@requires(Role.LIBRARIAN)
def place(placement_id: int) -> str | Response:
    section_id = required_int("section")
    return _apply(
        placement_id,
        lambda: decisions.place(g.db, placement_id, section_id, g.user.email),
        "Moved to that section.",
    )


@blueprint.post("/placements/<int:placement_id>/topics")
@requires(Role.LIBRARIAN)
def set_topics(placement_id: int) -> str | Response:
    """The whole set of topics, from the item page's checkboxes."""
    chosen = int_list("topic")
    return _apply(
        placement_id,
        lambda: decisions.set_topics(g.db, [placement_id], chosen, g.user.email),
        "Topics saved.",
    )


@blueprint.post("/placements/<int:placement_id>/tag")
@requires(Role.LIBRARIAN)
def add_topic(placement_id: int) -> str | Response:
    """One more topic, typed into the row's type-ahead box (by label or slug). A name that is
    no topic to choose is said at once, on the row, with what was typed kept in the box."""
    typed = request.form.get("topic", "")
    try:
        topic: Topic = topic_named(all_topics(g.db), typed)
    except TopicNameError as exc:
        if _is_htmx():
            return _row(placement_id, tag_error=str(exc), typed=typed)
        flash(str(exc), "error")
        return _back_to_item(placement_id)
    return _apply(
        placement_id,
        lambda: decisions.set_topics(g.db, [placement_id], [topic.id], g.user.email, replace=False),
        f"Tagged “{topic.label}”.",
    )


@blueprint.post("/placements/<int:placement_id>/suggestions/<int:topic_id>/confirm")
@requires(Role.LIBRARIAN)
def confirm_suggestion(placement_id: int, topic_id: int) -> str | Response:
    return _apply(
        placement_id,
        lambda: decisions.confirm_suggestion(g.db, placement_id, topic_id, g.user.email),
        "Topic confirmed.",
    )


@blueprint.post("/placements/<int:placement_id>/suggestions/<int:topic_id>/dismiss")
@requires(Role.LIBRARIAN)
def dismiss_suggestion(placement_id: int, topic_id: int) -> str | Response:
    return _apply(
        placement_id,
        lambda: decisions.dismiss_suggestion(g.db, placement_id, topic_id, g.user.email),
        "Suggestion dismissed.",
    )


def _item_change(item_id: int, change: Callable[[], object], done: str) -> Response:
    """A change to the item as a whole, from its page."""
    return decide_then_back(change, done, url_for("triage.item", item_id=item_id))


@blueprint.post("/items/<int:item_id>/edit")
@requires(Role.LIBRARIAN)
def edit(item_id: int) -> Response:
    return _item_change(
        item_id,
        lambda: decisions.edit_wording(
            g.db,
            item_id,
            request.form.get("title", ""),
            request.form.get("summary", ""),
            g.user.email,
        ),
        "Saved: the title and summary.",
    )


@blueprint.post("/items/<int:item_id>/offer")
@requires(Role.LIBRARIAN)
def offer(item_id: int) -> Response:
    """Offer the item to one more newsletter: it arrives there as new, for its triage."""
    section_id = required_int("section")
    return _item_change(
        item_id,
        lambda: decisions.offer(g.db, item_id, section_id, g.user.email),
        "Offered: it is new in that newsletter's triage.",
    )


@blueprint.post("/items/bulk")
@requires(Role.LIBRARIAN)
def bulk() -> Response:
    back = local_path(request.form.get("back"), url_for("triage.inbox"))
    ids = int_list("placement")
    if not ids:
        flash("Select some items first.", "error")
        return redirect(back)
    action = choice("action", ["accepted", "rejected", "tag"])
    if action in ("accepted", "rejected"):
        change = partial(decisions.set_status, g.db, ids, ItemStatus(action), g.user.email)
        done = f"{count(len(ids), 'item')} {action}."
    else:
        topic_id = optional_int("topic")
        if topic_id is None:  # the list's "Choose a topic…"
            flash("Choose a topic to tag the selected items with.", "error")
            return redirect(back)
        topic = g.db.get(Topic, topic_id)
        if topic is not None and topic.retired:
            flash(f"The topic “{topic.label}” is retired: choose another from the list.", "error")
            return redirect(back)
        change = partial(decisions.set_topics, g.db, ids, [topic_id], g.user.email, replace=False)
        done = f"{count(len(ids), 'item')} tagged “{topic.label if topic else topic_id}”."
    return decide_then_back(change, done, url_for("triage.inbox"))
