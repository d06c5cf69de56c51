"""Addresses: which links readers may be given, and one canonical spelling per address, so the
same publication is recognised anywhere."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import (
    parse_qsl,
    quote,
    unquote_plus,
    urlencode,
    urljoin,
    urlsplit,
    urlunsplit,
)

# Query parameters that only say how a reader arrived, never which page they get.
TRACKING_PARAMETERS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "twclid",
        "igshid",
        "mc_cid",
        "mc_eid",
        "_hsenc",
        "_hsmi",
        "mkt_tok",
        "oly_anon_id",
        "oly_enc_id",
        "vero_id",
        "_ga",
        "_gl",
        "ref_src",
        "ref_url",
        "cmpid",
        "wt.mc_id",
        "rss",
        "at_medium",
        "at_campaign",
        "dgcid",  # Elsevier's campaign tag on every ScienceDirect feed link
    }
)
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hmb_")
DEFAULT_PORTS = {"http": 80, "https": 443}
READER_SCHEMES = frozenset(DEFAULT_PORTS)
# Far past any real page's address (browsers take about 2 MB; sitemaps stop at 2,048), yet it
# keeps one feed from filling an email with a single link.
MAX_LINK_CHARS = 8192
# What the WHATWG URL parser does before it reads a scheme: C0 controls and spaces at either end
# are stripped, and tabs and line breaks anywhere are removed, so `java\tscript:` and
# " JavaScript:" are both the javascript scheme to a browser.
_C0_AND_SPACE = "".join(chr(c) for c in range(0x21))
_TAB_OR_NEWLINE = re.compile(r"[\t\n\r]")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_INNER_CONTROL = re.compile(r"[\x00-\x20\x7f]")


@dataclass(frozen=True)
class ReaderLink:
    """A link fit to show readers, or None with a note saying why the given one was dropped."""

    link: str | None
    note: str | None = None


def check_reader_link(value: str | None, base: str | None = None) -> ReaderLink:
    """`value` as a link readers may follow: absolute http(s) with a host, without tracking
    parameters (`without_tracking`), or None.

    Parsed the way browsers do (WHATWG), so no spelling of `javascript:`, `data:` or
    `vbscript:` passes. A relative link is resolved against `base` when that is itself a
    reader link. Spaces and controls left inside are percent-encoded, as a browser would.
    Pure: every place an item link, source link or site address is stored calls it.
    """
    if value is None:
        return ReaderLink(None)
    text = _TAB_OR_NEWLINE.sub("", value.strip(_C0_AND_SPACE))
    if not text:
        return ReaderLink(None)
    shown = repr(text[:80] + ("…" if len(text) > 80 else ""))
    if len(text) > MAX_LINK_CHARS:
        return ReaderLink(None, f"The link was dropped: it is over {MAX_LINK_CHARS} characters.")
    scheme = _SCHEME.match(text)
    if scheme is None:
        web_base = reader_link(base) if base else None
        if web_base is None:
            return ReaderLink(None, f"The link {shown} was dropped: it is not a full web address.")
        text = urljoin(web_base, text)
        scheme = _SCHEME.match(text)
        assert scheme is not None  # joined onto an http(s) base
    if scheme[1].lower() not in READER_SCHEMES:
        return ReaderLink(
            None,
            f"The link {shown} was dropped: only http and https links are given to readers, "
            f"and it is a {scheme[1].lower()}: link.",
        )
    text = _INNER_CONTROL.sub(lambda m: quote(m[0]), text)
    try:
        host = urlsplit(text).hostname
    except ValueError:
        host = None
    if not host:
        return ReaderLink(None, f"The link {shown} was dropped: it names no host.")
    return ReaderLink(without_tracking(text))


def reader_link(value: str | None, base: str | None = None) -> str | None:
    """The link if readers may be given it (see `check_reader_link`), else None."""
    return check_reader_link(value, base).link


def is_tracking_parameter(name: str) -> bool:
    lowered = name.lower()
    return lowered in TRACKING_PARAMETERS or lowered.startswith(TRACKING_PREFIXES)


def without_tracking(url: str) -> str:
    """`url` without its tracking parameters (`utm_*`, `fbclid`, `mc_cid`, …), everything else
    exactly as it was spelled: readers follow this link, and the page must stay the same."""
    before, mark, rest = url.partition("?")
    if not mark:
        return url
    query, hash_mark, fragment = rest.partition("#")
    kept = [
        pair
        for pair in query.split("&")
        if not is_tracking_parameter(unquote_plus(pair.partition("=")[0]))
    ]
    if len(kept) == len(query.split("&")):
        return url
    cleaned = "&".join(pair for pair in kept if pair)
    return before + ("?" + cleaned if cleaned else "") + hash_mark + fragment


def canonicalize_url(url: str) -> str:
    """Lower-case scheme and host, no default port, no fragment, no tracking parameters.

    Anything that is not an absolute http(s) URL is returned stripped but otherwise unchanged.
    """
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        return url
    host = parts.hostname.rstrip(".")
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    if parts.username is not None:
        credentials = parts.username + (f":{parts.password}" if parts.password is not None else "")
        host = f"{credentials}@{host}"
    if port is not None and port != DEFAULT_PORTS[scheme]:
        host = f"{host}:{port}"
    query = [
        (name, value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
        if not is_tracking_parameter(name)
    ]
    return urlunsplit((scheme, host, parts.path or "/", urlencode(query, doseq=True), ""))
