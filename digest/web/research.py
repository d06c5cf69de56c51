"""An item's structured record on its page: "Look up again" and a librarian's corrections.
The page itself is the item page (`triage.item`); these are its forms."""

from __future__ import annotations

from flask import Blueprint, Response, flash, g, redirect, request, url_for

from digest.models import Role
from digest.research.review import FIELDS, RecordCorrectionError, correct_record, look_up_again
from digest.web.errors import try_change
from digest.web.security import local_path, requires

blueprint = Blueprint("research", __name__)


def _back(item_id: int) -> Response:
    fallback = url_for("triage.item", item_id=item_id, _anchor="record")
    return redirect(local_path(request.form.get("back"), fallback))


@blueprint.post("/items/<int:item_id>/record/look-up")
@requires(Role.LIBRARIAN)
def look_up(item_id: int) -> Response:
    """Ask the service about the item's DOI or PMID again, at the next enrichment run."""
    done, _ = try_change(lambda: look_up_again(g.db, item_id, g.user.email))
    if done:
        g.db.commit()
        flash("It will be looked up again within a few minutes.", "success")
    return _back(item_id)


@blueprint.post("/items/<int:item_id>/record")
@requires(Role.LIBRARIAN)
def correct(item_id: int) -> Response:
    """Save a librarian's corrections to the record."""
    # Named apart from the item's own title and summary fields on the same page.
    submitted = {
        name: request.form[f"record-{name}"] for name in FIELDS if f"record-{name}" in request.form
    }
    try:
        changed = correct_record(g.db, item_id, submitted, g.user.email)
    except RecordCorrectionError as error:
        g.db.rollback()
        flash(f"Not changed: {error}.", "error")
        return _back(item_id)
    g.db.commit()
    if changed:
        flash(f"Saved: {', '.join(FIELDS[name] for name in changed)}.", "success")
    else:
        flash("Nothing was changed.", "success")
    return _back(item_id)
