"""CSV files as people exchange them: read whatever their encoding and however broken a row,
at a bounded cost; written so that no spreadsheet runs a cell as a formula.

Reading: the bytes are UTF-8 (with or without a byte-order mark), UTF-16 with its mark, or
else the encoding charset-normalizer finds, Windows-1252 where that reads the same; the
encoding is named so a person can check it, and a file no encoding reads is refused whole,
saying where. Rows come one at a time, numbered as a spreadsheet numbers them (the header is
row 1; a quoted line break does not start a row). A row that cannot be taken (a cell over
`MAX_CELL`, a NUL or other control character, a quote never closed) is a problem of that row
and the rows after it are still read; only a single line or quoted cell over `MAX_RECORD`
stops the reading, as nothing after it can be told apart.

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

import codecs
import csv
import queue
import re
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import TextIO, TypeVar

import charset_normalizer

from digest.errors import Invalid

MAX_CELL = 128 * 1024  # characters in one cell: a long abstract fits many times over
MAX_RECORD = 8 * 1024 * 1024  # one line or quoted cell; past it a row cannot be told apart
_SAMPLE = 4 * 1024 * 1024  # bytes given to charset-normalizer to find an encoding
_CHUNK = 1024 * 1024
# Control characters other than tab, line feed and carriage return: no name, title or address
# holds them, and text with them breaks XML feeds and mail headers (PostgreSQL refuses NUL).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
T = TypeVar("T")
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)

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


class CsvFileError(Invalid):
    """The file as a whole cannot be read: its encoding, or its first row. The message does
    not name the file: the caller does."""


@dataclass(frozen=True)
class Record:
    """One row of a CSV file: its cells, or why it could not be read."""

    number: int  # as a spreadsheet numbers rows: the header is row 1
    cells: list[str]
    problem: str | None = None
    # A control character somewhere in the row: `control_problem` says whether a cell that
    # is taken holds it (a column nobody reads may hold what it likes).
    control: bool = False


@dataclass(frozen=True)
class CsvFile:
    """An open CSV file: its columns, its rows one at a time, and how it was decoded."""

    columns: list[str]
    records: Iterator[Record]
    encoding: str  # the Python codec, "utf-8" for most files

    def note(self, path: Path | str) -> str | None:
        """What to tell a person about the encoding, or None for UTF-8."""
        return encoding_note(path, self.encoding)


def encoding_note(path: Path | str, encoding: str) -> str | None:
    """What to tell a person about a file read in `encoding`, or None for UTF and its BOMs."""
    if codecs.lookup(encoding).name in ("utf-8", "utf-8-sig", "utf-16", "utf-32"):
        return None
    return (
        f"{path} is not UTF-8: read as {encoding}. If names look wrong, import it again with "
        "--encoding, or save it as CSV UTF-8"
    )


def _first_bad_utf8(path: Path) -> tuple[int, int] | None:
    """The offset and line of the first byte that is not UTF-8, or None if all of it is."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset, lines = 0, 1
    with path.open("rb") as raw:
        while chunk := raw.read(_CHUNK):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                return offset + exc.start, lines + chunk.count(b"\n", 0, exc.start)
            offset, lines = offset + len(chunk), lines + chunk.count(b"\n")
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return offset, lines
    return None


def _reads_as(path: Path, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        with path.open("rb") as raw:
            while chunk := raw.read(_CHUNK):
                decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _readable(path: Path) -> None:
    """CsvFileError unless `path` is a file that can be read (not a device or a pipe, which
    might never end)."""
    try:
        if not path.is_file():
            raise CsvFileError("not a file")
        with path.open("rb"):
            pass
    except OSError as exc:
        raise CsvFileError(f"cannot be read ({exc.strerror or exc})") from None


def find_encoding(path: Path) -> str:
    """The encoding `path` is written in; CsvFileError when no encoding reads it."""
    _readable(path)
    with path.open("rb") as raw:
        head = raw.read(_SAMPLE)
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            if not _reads_as(path, encoding):
                raise CsvFileError(
                    f"starts with a {encoding.upper()} byte-order mark but is not "
                    f"{encoding.upper()} text throughout; save it again as CSV UTF-8"
                )
            return encoding
    bad = _first_bad_utf8(path)
    if bad is None:
        return "utf-8"
    found = charset_normalizer.from_bytes(head).best()
    if found is not None:
        # Several encodings often read a sample alike; Windows' Western one is the likeliest
        # (what Excel writes as "CSV" in Western Europe).
        choice = "cp1252" if "cp1252" in found.could_be_from_charset else found.encoding
        if _reads_as(path, choice):
            return choice
    offset, line = bad
    raise CsvFileError(
        f"cannot tell the character encoding: byte {offset:,} (line {line:,}) is not "
        "UTF-8, and no other encoding reads the whole file as text. Save it as CSV UTF-8, or "
        "name its encoding with --encoding"
    )


@contextmanager
def open_csv(path: Path, encoding: str | None = None) -> Iterator[CsvFile]:
    """`path` as a CsvFile, in `encoding` or the one it is found to be written in.
    CsvFileError for an encoding that does not read it or a file with no header row."""
    _readable(path)
    if encoding is not None:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise CsvFileError(f"{encoding!r} is not an encoding Python knows") from None
        if not _reads_as(path, encoding):
            raise CsvFileError(f"not {encoding} text throughout")
    encoding = encoding or find_encoding(path)
    with path.open(encoding=encoding, newline="") as handle:
        yield read_csv(handle, encoding)


def read_csv(handle: TextIO, encoding: str = "utf-8") -> CsvFile:
    """The rows of a text stream, read lazily; CsvFileError when its header cannot be read."""
    lines = _Lines(handle)
    csv.field_size_limit(max(csv.field_size_limit(), MAX_RECORD))
    reader = csv.reader(lines)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise CsvFileError(f"the first row cannot be read as CSV ({exc})") from None
    if not header or lines.stopped or lines.chars > MAX_CELL:
        raise CsvFileError("the first row must name the columns")
    return CsvFile([c.strip().lower() for c in header], _records(reader, lines, header), encoding)


class _Lines:
    """The physical lines of a stream for csv.reader, each at most MAX_RECORD characters,
    noting what a row's lines hold so that only a suspect row is looked at cell by cell."""

    def __init__(self, handle: TextIO) -> None:
        self.handle = handle
        self.chars = 0  # since the row began
        self.control = False  # a control character since the row began
        self.stopped = False  # a line ran over MAX_RECORD: the reading ends there

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        if self.stopped:
            raise StopIteration
        try:
            line = self.handle.readline(MAX_RECORD)
        except UnicodeDecodeError as exc:  # the file changed since its encoding was found
            raise CsvFileError(f"not {exc.encoding} text ({exc.reason})") from None
        if not line:
            raise StopIteration
        if len(line) == MAX_RECORD and not line.endswith(("\n", "\r")):
            self.stopped = True
            raise StopIteration
        self.chars += len(line)
        if not self.control and _CONTROL.search(line):
            self.control = True
        return line

    def start_row(self) -> None:
        self.chars, self.control = 0, False


def _records(reader: Iterator[list[str]], lines: _Lines, header: list[str]) -> Iterator[Record]:
    number = 1
    while True:
        lines.start_row()
        first_line = reader.line_num + 1
        number += 1
        try:
            cells = next(reader)
        except StopIteration:
            if lines.stopped:
                yield Record(number, [], _stopped(reader.line_num + 1))
            return
        except csv.Error:  # a quoted cell over MAX_RECORD: the rest cannot be told apart
            yield Record(number, [], _stopped(first_line))
            return
        if lines.stopped:  # the over-long line ended the row early
            yield Record(number, [], _stopped(reader.line_num + 1))
            return
        if not cells:  # a blank line: a row of its own, with nothing in it
            continue
        problem = None
        if lines.chars > MAX_CELL:
            problem = _size_problem(cells, header, first_line, reader.line_num)
        yield Record(number, [] if problem else cells, problem, lines.control)


def _stopped(line: int) -> str:
    return (
        f"from line {line:,} on, a line or quoted cell runs past {MAX_RECORD >> 20} MiB (is a "
        "closing quote missing?); nothing after it was read"
    )


def _size_problem(cells: list[str], header: list[str], first: int, last: int) -> str | None:
    for index, cell in enumerate(cells):
        if len(cell) > MAX_CELL:
            column = header[index].strip() if index < len(header) else f"column {index + 1}"
            where = ""
            if last > first:
                where = f" (lines {first:,}-{last:,}: is a closing quote missing?)"
            return f"{column} holds {len(cell):,} characters, over the {MAX_CELL:,} taken{where}"
    return None


def control_problem(values: Mapping[str, str | None], columns: Iterable[str]) -> str | None:
    """Why a row cannot be taken when one of its `columns` holds a control character (other
    than tab and line breaks); None when none does."""
    for column in columns:
        if (value := values.get(column)) and (found := _CONTROL.search(value)):
            return f"{column} holds a control character (U+{ord(found[0]):04X})"
    return None


def read_ahead(items: Iterator[T], size: int, depth: int = 2) -> Iterator[list[T]]:
    """`items` in lists of `size`, read in a thread of their own up to `depth` lists ahead.

    Reading and checking rows is Python work; writing them is mostly the database's. While a
    batch is written, the next ones are read, so an import takes about the longer of the two
    rather than their sum. An error in reading is raised here, in the caller's thread.
    """
    ready: queue.Queue[tuple[list[T] | None, BaseException | None]] = queue.Queue(depth)
    stop = threading.Event()

    def put(entry: tuple[list[T] | None, BaseException | None]) -> bool:
        while not stop.is_set():
            try:
                ready.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        try:
            while batch := list(islice(items, size)):
                if not put((batch, None)):
                    return
            put((None, None))
        except BaseException as exc:  # handed to the caller, who decides what it means
            put((None, exc))

    reader = threading.Thread(target=read, name="read-ahead", daemon=True)
    reader.start()
    try:
        while True:
            batch, error = ready.get()
            if error is not None:
                raise error
            if batch is None:
                return
            yield batch
    finally:
        stop.set()
        reader.join()
