"""Header fields as they go on the wire: any script, in 7-bit ASCII, folded within 78
characters (RFC 5322 2.1.1), and read back by any mail client exactly as they were written.

Non-ASCII text becomes RFC 2047 UTF-8 encoded words (the stdlib's `email.header.Header`,
which splits them at character boundaries and folds them within the limit). Everything else
is folded here, only ever before a space that is already in the text, so unfolding gives the
text back. (The folder of the newer `email.policy` API is not used: in Python 3.11 it can drop
the quotes of a long quoted display name, and write an empty line between two long words,
which ends the header block.)
"""

from __future__ import annotations

import re
from email.header import Header
from typing import NamedTuple

from digest.addresses import AddressError, on_the_wire

MAX_LINE = 78
# C0 and C1 controls (NEL among them), DEL, and the Unicode line and paragraph separators: a
# mail client may show any of them as a new line, even inside an encoded word.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_ATOMS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~ -]*")  # RFC 5322 atext, and spaces


class Mailbox(NamedTuple):
    display_name: str
    address: str  # on the wire: domain in A-labels

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2]


def one_line(text: str) -> str:
    """Header text with line breaks and other control characters made spaces: a stored
    title or name can never start a header field of its own."""
    return _CONTROL.sub(" ", text).strip()


def mailbox(value: str) -> Mailbox:
    """`Display Name <local@domain>` or a bare address, as written in the config. The display
    name may hold anything (it is quoted or encoded on the way out)."""
    head, bracket, tail = value.strip().rpartition("<")
    display, address = (head.strip(), tail.strip().rstrip(">").strip()) if bracket else ("", tail)
    if len(display) > 1 and display[0] == display[-1] == '"':
        display = re.sub(r"\\(.)", r"\1", display[1:-1])
    wire = on_the_wire(address)
    if not wire.isascii():
        raise AddressError(
            f"the sending address {address} has letters outside ASCII before the “@”, so every "
            "message would need SMTPUTF8 to carry it: give the newsletter an ASCII address"
        )
    return Mailbox(one_line(display), wire)


def _needs_encoding(text: str) -> bool:
    return not text.isascii() or "=?" in text  # "=?" would read as the start of an encoded word


def _encoded(name: str, text: str) -> str:
    return Header(text, "utf-8", maxlinelen=MAX_LINE, header_name=name).encode(linesep="\r\n")


def _folded(name: str, value: str) -> str:
    """`Name: value`, a line break put before a space wherever a line would pass 78."""
    lines, line = [], f"{name}:"
    for token in re.findall(r" +[^ ]*", " " + value):  # each with the spaces before it
        if len(line) + len(token) > MAX_LINE and line != f"{name}:":
            lines.append(line)
            line = ""
        line += token
    return "\r\n".join([*lines, line])


def text_header(name: str, text: str) -> bytes:
    """An unstructured field such as Subject."""
    text = one_line(text)
    if _needs_encoding(text):
        return f"{name}: {_encoded(name, text)}\r\n".encode("ascii")
    return f"{_folded(name, text)}\r\n".encode("ascii")


def _phrase_then(name: str, phrase: str, angle: str) -> bytes:
    """`Name: phrase <angle>`: the phrase as atoms, a quoted string, or encoded words."""
    if not phrase:
        return f"{name}: <{angle}>\r\n".encode("ascii")  # for List-Id; see address_header
    if _needs_encoding(phrase):
        encoded = f"{name}: {_encoded(name, phrase)}"
        last = encoded.rpartition("\r\n")[2]
        space = "\r\n " if len(last) + len(angle) + 3 > MAX_LINE else " "
        return f"{encoded}{space}<{angle}>\r\n".encode("ascii")
    if not _ATOMS.fullmatch(phrase):
        phrase = '"' + re.sub(r'(["\\])', r"\\\1", phrase) + '"'
    return f"{_folded(name, f'{phrase} <{angle}>')}\r\n".encode("ascii")


def address_header(name: str, value: str) -> bytes:
    """From, Reply-To: one mailbox, from the config's `Name <address>`."""
    box = mailbox(value)
    if not box.display_name:
        return f"{name}: {box.address}\r\n".encode("ascii")
    return _phrase_then(name, box.display_name, box.address)


def list_id_header(title: str, slug: str, domain: str) -> bytes:
    """`List-Id: Title <slug.domain>` (RFC 2919): the title as a phrase."""
    return _phrase_then("List-Id", one_line(title), f"{slug}.{domain}")
