"""The audit log: who changed what, each change shown field by field (old → new), filtered
by who, what kind of object and which action, a page at a time."""

from __future__ import annotations

from flask import g, render_template, request, url_for

from digest import audit
from digest.models import Role
from digest.web.admin.routes import blueprint
from digest.web.inputs import optional_date, optional_int
from digest.web.security import requires

AUDIT_PAGE = 100
SHORT = 120  # characters of a value shown before "Show all"


@blueprint.get("/audit")
@requires(Role.ADMIN)
def audit_log() -> str:
    kinds = [kind.value for kind in audit.ObjectType]
    filters = audit.AuditFilter(
        actor=request.args.get("actor") or None,
        action=request.args.get("action") or None,
        object_type=request.args.get("object") if request.args.get("object") in kinds else None,
        since=optional_date("since"),
        older_than=optional_int("older"),
    )
    page = audit.audit_page(g.db, filters, AUDIT_PAGE)
    same_filters = {k: v for k, v in request.args.items() if k != "older"}
    return render_template(
        "audit.html",
        entries=[(entry, audit.changes(entry.before, entry.after)) for entry in page.entries],
        older=page.older and url_for("admin.audit_log", **same_filters, older=page.older),
        newest=filters.older_than is not None and url_for("admin.audit_log", **same_filters),
        args=request.args,
        kinds=kinds,
        actors=audit.actors(g.db),
        action_groups=audit.action_groups(),
        short=SHORT,
    )
