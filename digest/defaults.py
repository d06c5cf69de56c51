"""Defaults that more than one place needs, written once: the settings' (`digest.settings`)
that code below them also falls back on, and those the command line shows before anything
heavy is imported."""

DEFAULT_CONFIG = "feeds.yaml"
DEFAULT_DATABASE_URL = "sqlite:///var/digest.sqlite"
MAIL_CONNECTIONS = 4  # a transport's, when neither its config nor the environment says
DEFAULT_TIMEZONE = "Europe/London"  # a newsletter's, and staff pages', unless configured
MAX_ENTRIES = 500  # per feed and poll: ten weeks of the busiest feed a library follows
