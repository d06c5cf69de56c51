"""Digest's errors: what the pipeline stages raise when they cannot do what was asked.

Every error a person should be told about derives from `DigestError`, and its class says what
kind of answer it gets; the message is a sentence fit to show them. The web app turns these
into HTTP answers in one place (`digest.web.errors`) and the command line into its exit status
in one place (`digest.cli`). Anything else that escapes is a bug: a traceback and a 500.

    DigestError
    ├── Invalid          what was given cannot be used: a form field, a file, a config line (400)
    │   └── ...             ConfigError, CsvFileError, AddressError, SignupError, InvalidToken …
    ├── NotFound         what was named does not exist (404)
    ├── Refused          the request is understood, but the state of things does not allow it
    │   └── ...             EditionError, DecisionError, HeldBack, JoinRefused … (409)
    ├── TooMany          a rate limit was reached: try again later (429)
    └── Unavailable      something Digest needs is away: the database, a mail server, a lock (503)

The built-in bases are kept where callers (and Python's own conventions) expect them:
`Invalid` is a `ValueError` and `NotFound` a `LookupError`.
"""

from __future__ import annotations


class DigestError(Exception):
    """Something a person asked for could not be done; the message says why."""


class Invalid(DigestError, ValueError):
    """What was given cannot be used as it is."""


class NotFound(DigestError, LookupError):
    """What was named does not exist (or no longer does)."""


class Refused(DigestError):
    """Understood, but not allowed in the present state of things."""


class TooMany(DigestError):
    """A rate limit was reached; the same request can succeed later."""


class Unavailable(DigestError):
    """Something Digest needs is away or cannot be used right now."""
