"""The dashboard: what is waiting, what is accepted, what needs attention."""

from __future__ import annotations

from flask import Blueprint, g, render_template

from digest.curation.overview import overview
from digest.models import Role
from digest.timeutil import utcnow
from digest.web.security import requires

blueprint = Blueprint("dashboard", __name__)


@blueprint.get("/")
@requires(Role.LIBRARIAN)
def home() -> str:
    return render_template("dashboard.html", overview=overview(g.db, utcnow()))
