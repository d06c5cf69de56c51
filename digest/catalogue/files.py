"""Which reader a catalogue file needs: MARC by its content, RIS and CSV by its name."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from digest.catalogue import marc
from digest.catalogue.records import CatalogueFormatError, Found, read_csv, read_ris

_HEAD = 4096  # enough for a MARCXML file's root element and its namespaces


def _head(path: Path) -> bytes:
    try:
        with path.open("rb") as stream:
            return stream.read(_HEAD)
    except OSError as exc:
        raise CatalogueFormatError(f"{path}: cannot be read: {exc.strerror}") from None


def is_marc(path: Path) -> bool:
    """Whether the file holds MARC21 or MARCXML records, whatever it is called."""
    head = _head(path)
    return marc.looks_like_marc(head) or marc.looks_like_marcxml(head)


def read_catalogue(path: Path, encoding: str | None = None) -> Iterator[Found]:
    """Records of a RIS, CSV, MARC21 or MARCXML file, one at a time, and the reasons the bad
    ones are left out. CatalogueFormatError when the file cannot be read at all."""
    suffix = path.suffix.lower()
    head = _head(path)
    if marc.looks_like_marc(head):
        return marc.read_marc(path)
    if marc.looks_like_marcxml(head):
        return marc.read_marcxml(path)
    if suffix in (".mrc", ".marc", ".xml", ".marcxml"):
        kind = "MARCXML (in the MARC21 slim namespace)" if "xml" in suffix else "MARC21 (ISO 2709)"
        raise CatalogueFormatError(f"{path}: the file is named as {kind} but does not hold it")
    if suffix in (".ris", ".txt"):
        return read_ris(path, encoding)
    if suffix == ".csv":
        return read_csv(path, encoding)
    raise CatalogueFormatError(
        f"{path}: unknown catalogue format {suffix!r} (use .ris, .csv, MARC21 or MARCXML)"
    )
