"""Reading a local file named in configuration at a bounded cost: a regular file only (never a
device, FIFO, socket or directory, even through a symlink), at most a given size, and opened
so that nothing at the path can make the open or the read wait forever."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from urllib.parse import unquote, urlsplit

from digest.errors import Invalid

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_local_path(url: str) -> bool:
    """Whether a feed address names a file on this machine: a path, or a file:// URL."""
    return not _SCHEME.match(url) or url[:7].lower() == "file://"


def local_path(url: str) -> Path:
    """The path a local feed address names (see `is_local_path`)."""
    if url[:7].lower() == "file://":
        return Path(unquote(urlsplit(url).path))
    return Path(url)


class LocalFileError(Invalid, OSError):
    """The file cannot be read as asked; the message names it and says why."""


class FileTooLarge(LocalFileError):
    """The file is larger than the size asked for."""


def read_regular_file(path: str | Path, max_bytes: int) -> bytes:
    """The bytes of the regular file at `path`, refused when it is anything else or is larger
    than `max_bytes` (checked on the open file, and again while reading, in case it grows)."""
    # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer. The type is
    # then checked on the descriptor itself, so a swap of the path after the check is harmless.
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise LocalFileError(f"the file {path} cannot be read: {exc.strerror or exc}") from None
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise LocalFileError(f"{path} is {_kind(info.st_mode)}, not a regular file")
        if info.st_size > max_bytes:
            raise FileTooLarge(f"the file {path} is larger than {_size(max_bytes)}")
        chunks, read = [], 0
        while chunk := os.read(descriptor, min(1 << 20, max_bytes + 1 - read)):
            chunks.append(chunk)
            read += len(chunk)
            if read > max_bytes:
                raise FileTooLarge(f"the file {path} is larger than {_size(max_bytes)}")
        return b"".join(chunks)
    except LocalFileError:  # already says what and where
        raise
    except OSError as exc:
        raise LocalFileError(f"the file {path} cannot be read: {exc.strerror or exc}") from None
    finally:
        os.close(descriptor)


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISCHR, "a device"),
        (stat.S_ISBLK, "a device"),
        (stat.S_ISFIFO, "a named pipe"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a file"


def _size(limit: int) -> str:
    for unit, size in (("MiB", 2**20), ("KiB", 2**10)):
        if limit >= size:
            return f"{limit / size:g} {unit}"
    return f"{limit} bytes"
