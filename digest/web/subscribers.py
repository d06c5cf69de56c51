"""Staff pages for subscribers: search, counts, and growth as a chart."""

from __future__ import annotations

from flask import Blueprint, g, render_template, request

from digest.models import Role
from digest.subscriptions.overview import PAGE_SIZE, counts, find_subscribers, growth
from digest.timeutil import utcnow
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
    page = max(
        1, int(request.args.get("page", "1")) if request.args.get("page", "1").isdigit() else 1
    )
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
    )
