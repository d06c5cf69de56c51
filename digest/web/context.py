"""What the app was made with, for its views: the settings and the mail transports."""

from __future__ import annotations

from flask import current_app

from digest.delivery.transport import Transports
from digest.settings import Settings

SETTINGS = "digest.settings"  # keys of `app.extensions`
TRANSPORTS = "digest.transports"


def settings() -> Settings:
    return current_app.extensions[SETTINGS]


def transports() -> Transports:
    """The config's transports by name, and the default one as None."""
    return current_app.extensions[TRANSPORTS]
