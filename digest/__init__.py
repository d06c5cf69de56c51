"""Digest: a weekly current-awareness email service. Feeds in, curated editions out."""

__version__ = "0.1.0"
