"""The rules for what a source that is not a feed asks (`type`, `query`, `options` in
feeds.yaml): a journal's ISSN or a Crossref filter, an OAI-PMH catalogue's set and settings."""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal, get_args

SourceType = Literal["feed", "pubmed", "crossref", "oai-pmh"]
SOURCE_TYPES: tuple[str, ...] = get_args(SourceType)
# Where a source that is a public service is asked when `url` is not given.
SERVICE_URLS = {
    "pubmed": "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/",
    "crossref": "https://api.crossref.org/",
}
OAI_OPTIONS = ("metadata_prefix", "from", "record_url")
OAI_METADATA_PREFIXES = ("marc21", "marcxml", "oai_dc")  # Koha serves marc21 and oai_dc
_ISSN = re.compile(r"^(\d{4})-?(\d{3}[\dXx])$")
_CROSSREF_FILTER = re.compile(r"^[a-z][a-z0-9.-]*:\S+$")
# OAI-PMH setSpec: URI unreserved characters, in parts joined by colons.
SET_SPEC = re.compile(r"^[A-Za-z0-9_.!~*'()-]+(?::[A-Za-z0-9_.!~*'()-]+)*$")
_OAI_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}:\d{2}Z)?$")


def check_issn(value: str) -> str:
    """An ISSN as NNNN-NNNX, its check digit verified; ValueError saying what is wrong."""
    match = _ISSN.match(value.strip())
    if not match:
        raise ValueError(f"{value!r} is not an ISSN (such as 0952-9136)")
    digits = match[1] + match[2][:3]
    total = sum(int(d) * weight for d, weight in zip(digits, range(8, 1, -1), strict=True))
    check = (11 - total % 11) % 11
    expected = "X" if check == 10 else str(check)
    if match[2][3].upper() != expected:
        raise ValueError(
            f"the ISSN {value!r} has a wrong check digit (it would end in {expected}): check "
            "it against the journal's own page"
        )
    return f"{match[1]}-{match[2].upper()}"


def crossref_query(query: str) -> str:
    """A journal's ISSN, or a Crossref filter such as `issn:0952-9136,from-pub-date:2024`."""
    if _ISSN.match(query):
        return check_issn(query)
    parts = [part.strip() for part in query.split(",")]
    if not all(_CROSSREF_FILTER.match(part) for part in parts):
        raise ValueError(
            f"{query!r} is neither an ISSN (such as 0952-9136) nor a Crossref filter (such as "
            "issn:0952-9136,from-pub-date:2024-01-01)"
        )
    for index, part in enumerate(parts):
        name, _, value = part.partition(":")
        if name in ("issn", "e-issn", "p-issn"):
            parts[index] = f"{name}:{check_issn(value)}"
    return ",".join(parts)


def oai_options(options: dict[str, str]) -> dict[str, str]:
    unknown = sorted(set(options) - set(OAI_OPTIONS))
    if unknown:
        raise ValueError(
            f"{', '.join(unknown)} is not a setting of an OAI-PMH catalogue (known: "
            f"{', '.join(OAI_OPTIONS)})"
        )
    prefix = options.get("metadata_prefix", "marc21")
    if prefix not in OAI_METADATA_PREFIXES:
        raise ValueError(
            f"metadata_prefix {prefix!r} is not one Digest reads (use "
            f"{', '.join(OAI_METADATA_PREFIXES)}; Koha serves marc21 and oai_dc)"
        )
    if "from" in options and not _OAI_DATE.match(options["from"]):
        raise ValueError(f"from {options['from']!r} is not a date such as 2026-01-31")
    record_url = options.get("record_url")
    if record_url is not None and not (
        re.match(r"^https?://[^/\s]+", record_url) and "{id}" in record_url
    ):
        raise ValueError(
            "record_url must be a web address holding {id}, where the record's number goes "
            "(for Koha: https://library.example.org/cgi-bin/koha/opac-detail.pl?biblionumber={id})"
        )
    return {**options, "metadata_prefix": prefix}


SERVICE_OPTIONS = {"first_days": 3650, "max_results": 10_000, "contact": 0}  # name: the most
_ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")


def service_options(kind: str, options: dict[str, str]) -> dict[str, str]:
    """A PubMed search's or Crossref journal's options: how many days the first harvest reads
    (`first_days`), the most records one harvest reads (`max_results`), and a contact address
    for this source (`contact`; by default DIGEST_RESEARCH_CONTACT's)."""
    if "api_key" in options:
        raise ValueError(
            "an API key is a secret and does not belong in this file: set DIGEST_NCBI_API_KEY "
            "in the environment instead"
        )
    unknown = sorted(set(options) - set(SERVICE_OPTIONS))
    if unknown:
        raise ValueError(
            f"{', '.join(unknown)} is not a setting of a {kind} source (known: "
            f"{', '.join(SERVICE_OPTIONS)})"
        )
    for name, most in SERVICE_OPTIONS.items():
        value = options.get(name)
        if value is None or not most:
            continue
        if not (value.isascii() and value.isdigit() and 1 <= int(value) <= most):
            raise ValueError(f"{name} must be a whole number from 1 to {most:,}, not {value!r}")
    if "contact" in options and not _ADDRESS.match(options["contact"]):
        raise ValueError(f"contact {options['contact']!r} is not an email address")
    return options


def as_text(value: object) -> object:
    """What YAML read as a date, a time or a number, as it was written (an OAI datestamp for a
    time)."""
    if isinstance(value, dt.datetime):
        moment = value.astimezone(dt.UTC) if value.tzinfo else value
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value
