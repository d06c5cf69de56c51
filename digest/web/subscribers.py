"""Staff pages for subscribers: search, counts, growth as a chart, and adding a person who
gave consent elsewhere (never one on the suppression list)."""

from __future__ import annotations

from flask import Blueprint, Response, flash, g, redirect, render_template, request, url_for
from sqlalchemy import select

from digest.models import Newsletter, Role
from digest.models.lookup import newsletter_by_slug
from digest.subscriptions import lists
from digest.subscriptions.overview import PAGE_SIZE, counts, find_subscribers, growth
from digest.timeutil import utcnow
from digest.web.context import settings
from digest.web.inputs import optional_int
from digest.web.security import requires

blueprint = Blueprint("subscribers", __name__, url_prefix="/subscribers")
CHART_WIDTH, CHART_HEIGHT = 640, 160


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
    words = request.args.get("q", "")[:200]
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
        newsletters=g.db.scalars(select(Newsletter).order_by(Newsletter.title)).all(),
    )


@blueprint.post("/add")
@requires(Role.EDITOR)
def add() -> Response:
    """Add one person to a newsletter; refused, with the reason, for a suppressed address."""
    slug = request.form.get("newsletter", "")
    newsletter = newsletter_by_slug(g.db, slug)
    address, source = request.form.get("email", ""), request.form.get("source", "").strip()
    if not source:
        flash("Not added: say where this person gave consent.")
        return redirect(url_for("subscribers.index"))
    try:
        lists.add_subscriber(
            g.db,
            newsletter,
            address,
            request.form.get("name", ""),
            [],
            f"added by {g.user.email}: {source}"[:200],
            settings().secret(),
        )
    except ValueError as exc:
        g.db.rollback()
        flash(f"Not added: {exc}.")
    else:
        g.db.commit()
        flash(f"Added {address.strip()} to {newsletter.title}.")
    return redirect(url_for("subscribers.index", q=address.strip()))
