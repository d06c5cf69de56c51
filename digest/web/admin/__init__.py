"""Admin pages, a module each: feeds, topics, staff accounts, the audit log."""

from __future__ import annotations

# Each page's module is imported for the routes it adds to the blueprint.
from digest.web.admin import auditlog, feeds, topics, users
from digest.web.admin.routes import blueprint

__all__ = ["auditlog", "blueprint", "feeds", "topics", "users"]
