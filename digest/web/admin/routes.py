"""The admin pages' blueprint, which each page's module adds its routes to."""

from __future__ import annotations

from flask import Blueprint

blueprint = Blueprint("admin", __name__, url_prefix="/admin")
