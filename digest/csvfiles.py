"""CSV files as people exchange them: written so that no spreadsheet runs a cell as a formula.

A spreadsheet takes a cell that starts with `=`, `+`, `-` or `@` (and, in some, a tab or a
carriage return before one) as a formula, so a subscriber named `=HYPERLINK(…)` would run in
the editor's spreadsheet (OWASP "CSV injection"). Every CSV that Digest writes goes through
`write_rows`: each such cell is written with a leading `'`, which spreadsheets show as text,
and every cell is quoted. `restore` undoes exactly that for files Digest wrote itself, so an
export imported again gives back the original values: a cell is given the quote when it
starts with any number of quotes followed by one of those characters, and loses one quote on
the way back only in that same case.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TextIO

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NEEDS_QUOTE = re.compile(r"'*[=+\-@\t\r]")  # what `neutralise` prefixes and `restore` undoes
_ADDED_QUOTE = re.compile(r"'+[=+\-@\t\r]")


def neutralise(value: str) -> str:
    """`value` as a spreadsheet will show it and never run it."""
    return "'" + value if _NEEDS_QUOTE.match(value) else value


def restore(value: str) -> str:
    """The value `neutralise` was given: `restore(neutralise(v)) == v` for every string."""
    return value[1:] if _ADDED_QUOTE.match(value) else value


def write_rows(handle: TextIO, columns: Sequence[str], rows: Iterable[Mapping[str, str]]) -> int:
    """Write a header and `rows` (each cell neutralised, all quoted); returns the row count."""
    writer = csv.writer(handle, quoting=csv.QUOTE_ALL)
    writer.writerow([neutralise(c) for c in columns])
    count = 0
    for row in rows:
        writer.writerow([neutralise(row.get(c) or "") for c in columns])
        count += 1
    return count
