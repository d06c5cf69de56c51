"""Admin pages, a module each: feeds, topics, staff accounts, the audit log."""

from __future__ import annotations

from flask import Blueprint

blueprint = Blueprint("admin", __name__, url_prefix="/admin")

# Imported for their routes, which they add to the blueprint above.
from digest.web.admin import auditlog, feeds, topics, users  # noqa: E402

__all__ = ["auditlog", "blueprint", "feeds", "topics", "users"]
