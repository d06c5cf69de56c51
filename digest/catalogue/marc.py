"""Reading MARC21 catalogue records (ISO 2709 files, and MARCXML) into catalogue records.

A binary file is split at each record's terminator rather than trusted for its declared
lengths, so that a record whose length, leader or directory is wrong fails alone and the next
is read. A record says in leader/09 whether it is in UTF-8; one that does not is in MARC-8,
unless its bytes are valid UTF-8 with letters beyond ASCII: MARC-8's accents come before
their letter as bytes that UTF-8 never puts there, so such a record was mislabelled.

MARCXML is read with lxml, one <record> at a time, never resolving entities or fetching a
DTD; the same reader takes the MARCXML records an OAI-PMH repository sends.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import IO

from lxml import etree
from pymarc import Field, Indicators, Leader, Record, Subfield
from pymarc.exceptions import PymarcException

from digest.catalogue.marcfields import marc_record
from digest.catalogue.records import CatalogueFormatError, Found, RecordError

MARCXML_NS = "http://www.loc.gov/MARC21/slim"
RECORD_END = b"\x1d"
_BLOCK = 1 << 16
_LEADER = 24


# ---- telling the formats apart --------------------------------------------------------------


def looks_like_marc(head: bytes) -> bool:
    """Whether a file's first bytes are an ISO 2709 leader (length, then "22" and "4500")."""
    return len(head) >= _LEADER and head[:5].isdigit() and head[20:22] == b"45"


def looks_like_marcxml(head: bytes) -> bool:
    return head.lstrip().startswith(b"<") and MARCXML_NS.encode() in head


# ---- binary MARC ----------------------------------------------------------------------------


def _chunks(stream: IO[bytes]) -> Iterator[bytes | None]:
    """Each record's bytes up to and with its terminator; None for a last one cut short."""
    pending = b""
    while block := stream.read(_BLOCK):
        pending += block
        *whole, pending = pending.split(RECORD_END)
        for chunk in whole:
            # Some systems end each record with a line break as well.
            yield chunk.lstrip(b"\r\n") + RECORD_END
    if pending.strip(b"\r\n \x00\x1a"):
        yield None


def _is_utf8(chunk: bytes) -> bool:
    """Leader/09 says so, or the bytes are UTF-8 with non-ASCII letters (see the module)."""
    if chunk[9:10] == b"a":
        return True
    if chunk.isascii():
        return False
    try:
        chunk.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _decode(chunk: bytes) -> Record:
    """A pymarc record from one record's bytes; ValueError in plain words when it is broken."""
    if not chunk[:5].isdigit():
        raise ValueError("its leader does not start with a five-digit record length")
    declared = int(chunk[:5])
    if declared != len(chunk):
        raise ValueError(
            f"its leader says it has {declared:,} bytes but it has {len(chunk):,} "
            "(the record is cut short or its length is wrong)"
        )
    if not chunk[12:17].isdigit():
        raise ValueError("its leader does not say where its data starts")
    try:
        return Record(chunk, to_unicode=True, force_utf8=_is_utf8(chunk))
    except UnicodeDecodeError:
        raise ValueError("its text is not valid UTF-8, as its leader says it is") from None
    except (PymarcException, ValueError, IndexError) as exc:
        raise ValueError(
            f"its directory of fields is damaged ({exc or type(exc).__name__})"
        ) from None


def read_marc(path: Path) -> Iterator[Found]:
    """Records of an ISO 2709 MARC21 file, one at a time, and why each bad one is left out."""
    try:
        stream = path.open("rb")
    except OSError as exc:
        raise CatalogueFormatError(f"{path}: cannot be read: {exc.strerror}") from None
    with stream:
        for number, chunk in enumerate(_chunks(stream), start=1):
            if chunk is None:
                yield RecordError(number, "the file ends in the middle of this record")
                continue
            try:
                record = _decode(chunk)
            except ValueError as exc:
                yield RecordError(number, f"not a readable MARC record: {exc}")
                continue
            yield catalogue_found(number, record)


# ---- MARCXML --------------------------------------------------------------------------------


def _q(name: str) -> str:
    return f"{{{MARCXML_NS}}}{name}"


def _text(element: etree._Element) -> str:
    """An element's text; an entity left unresolved (and so any child) adds nothing to it."""
    return (element.text or "") + "".join(child.tail or "" for child in element)


def record_from_xml(element: etree._Element) -> Record:
    """A pymarc record from a MARCXML <record> element (from a file or an OAI-PMH response)."""
    record = Record(leader=Leader((element.findtext(_q("leader")) or "").ljust(_LEADER)[:_LEADER]))
    for child in element:
        tag = child.get("tag", "")
        if child.tag == _q("controlfield"):
            record.add_field(Field(tag=tag, data=_text(child)))
        elif child.tag == _q("datafield"):
            subfields = [
                Subfield(code=sub.get("code", ""), value=_text(sub))
                for sub in child.iterchildren(_q("subfield"))
            ]
            indicators = Indicators(child.get("ind1", " ")[:1], child.get("ind2", " ")[:1])
            record.add_field(Field(tag=tag, indicators=indicators, subfields=subfields))
    return record


def read_marcxml(path: Path) -> Iterator[Found]:
    """Records of a MARCXML file, one at a time. XML that breaks off ends the file with an
    error naming where; the records before it are kept."""
    number = 0
    try:
        parsed = etree.iterparse(
            str(path),
            events=("end",),
            tag=_q("record"),
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
        )
        for _, element in parsed:
            number += 1
            yield catalogue_found(number, record_from_xml(element))
            element.clear(keep_tail=False)
            while element.getprevious() is not None:  # free what is read, for big files
                del element.getparent()[0]
    except OSError as exc:
        raise CatalogueFormatError(f"{path}: cannot be read: {exc}") from None
    except etree.XMLSyntaxError as exc:
        yield RecordError(number + 1, f"the XML is broken here, so the file stops: {exc.msg}")


def catalogue_found(number: int, record: Record) -> Found:
    try:
        return number, marc_record(record)
    except ValueError as exc:
        return RecordError(number, str(exc))
