"""Identity keys for items: within a feed, across feeds, and for tombstones."""

from __future__ import annotations

import hashlib
import re
import unicodedata

TITLE_KEY_LENGTH = 200
_NOT_WORD = re.compile(r"[\W_]+")
_WORD = re.compile(r"[^\W_]{3,}")
# Two texts with fewer words than this cannot be compared; only a specific title (this many
# words or more) then makes two items look alike. "Annual report 2025" is not specific.
MIN_WORDS = 5
SHARED_WORDS = 0.6  # of the shorter text's words, for two texts to count as the same


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def title_key(title: str) -> str:
    """A title folded for comparison: case, accents, punctuation and spacing ignored."""
    folded = title.casefold()
    if not folded.isascii():  # only non-ASCII text can carry accents to strip
        decomposed = unicodedata.normalize("NFKD", folded)
        folded = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _NOT_WORD.sub(" ", folded).strip()[:TITLE_KEY_LENGTH]


def content_hash(title: str, text: str, folded_title: str | None = None) -> str:
    """The same words under the same title give the same hash, whatever the markup.

    `folded_title` is `title_key(title)` when the caller already has it.
    """
    key = title_key(title) if folded_title is None else folded_title
    return sha256_hex(key + "\n" + " ".join(text.split()).casefold())


def entry_key(guid: str | None, canonical_url: str | None, content: str) -> str:
    """An entry's identity inside its feed: guid, else canonical URL, else content hash."""
    if guid and guid.strip():
        return sha256_hex("guid:" + guid.strip())
    if canonical_url:
        return sha256_hex("url:" + canonical_url)
    return sha256_hex("hash:" + content)


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.casefold()))


def likely_same(folded_title: str, text: str, other_text: str) -> bool:
    """Whether two items under the same (folded) title look like one publication: their texts
    share most words or, when one has too little text to tell, the title is specific."""
    mine, theirs = _words(text), _words(other_text)
    shorter = min(len(mine), len(theirs))
    if shorter < MIN_WORDS:
        return len(folded_title.split()) >= MIN_WORDS
    return len(mine & theirs) / shorter >= SHARED_WORDS


def url_key(canonical_url: str | None) -> str | None:
    return sha256_hex(canonical_url) if canonical_url else None


def source_tombstone(feed_id: int, key: str) -> str:
    return f"entry:{feed_id}:{key}"


def url_tombstone(key: str) -> str:
    return f"url:{key}"


def doi_tombstone(doi: str) -> str:
    return f"doi:{sha256_hex(doi)}"  # hashed: a DOI may be longer than a tombstone's key


def pmid_tombstone(pmid: str) -> str:
    return f"pmid:{pmid}"
