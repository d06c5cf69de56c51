"""Defaults that the command line shows before anything heavy is imported."""

DEFAULT_DATABASE_URL = "sqlite:///var/digest.sqlite"
