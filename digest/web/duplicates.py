"""Possible duplicates, side by side: merge them (undoably) or say they are different."""

from __future__ import annotations

from flask import Blueprint, Response, g, render_template, url_for

from digest.curation import duplicates
from digest.models import Role
from digest.web.inputs import required_int
from digest.web.security import requires
from digest.web.triage import decide_then_back

blueprint = Blueprint("duplicates", __name__)


@blueprint.get("/duplicates")
@requires(Role.LIBRARIAN)
def index() -> str:
    return render_template("duplicates.html", pairs=duplicates.waiting(g.db))


@blueprint.get("/duplicates/<int:pair_id>")
@requires(Role.LIBRARIAN)
def compare(pair_id: int) -> str:
    pair = duplicates.get_pair(g.db, pair_id)
    return render_template("duplicate.html", pair=pair)


@blueprint.post("/duplicates/<int:pair_id>/merge")
@requires(Role.LIBRARIAN)
def merge(pair_id: int) -> Response:
    keep = required_int("keep")
    return decide_then_back(
        lambda: duplicates.merge(g.db, pair_id, keep, g.user.email),
        "Merged: one item now, with every source. Undo it from the item's page.",
        url_for("triage.item", item_id=keep),
    )


@blueprint.post("/duplicates/<int:pair_id>/different")
@requires(Role.LIBRARIAN)
def different(pair_id: int) -> Response:
    return decide_then_back(
        lambda: duplicates.mark_different(g.db, pair_id, g.user.email),
        "Kept apart: they will not be proposed again.",
        url_for("duplicates.index"),
    )


@blueprint.post("/duplicates/<int:pair_id>/split")
@requires(Role.LIBRARIAN)
def split(pair_id: int) -> Response:
    return decide_then_back(
        lambda: duplicates.split(g.db, pair_id, g.user.email),
        "Split: the two items are separate again, each with its own sources.",
        url_for("duplicates.compare", pair_id=pair_id),
    )


@blueprint.post("/items/<int:item_id>/merge")
@requires(Role.LIBRARIAN)
def merge_into(item_id: int) -> Response:
    """Merge another item, named by its number, into this one."""
    other = required_int("other")
    return decide_then_back(
        lambda: duplicates.merge_by_hand(g.db, item_id, other, g.user.email),
        f"Item {other} merged into this one. Undo it below.",
        url_for("triage.item", item_id=item_id),
    )
