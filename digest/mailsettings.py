"""Where the public pages live, for the links Digest writes into emails and feeds.

Editions, sign-up, delivery and the web app all make such links, so this sits below them all.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urlsplit, urlunsplit

from digest.addresses import ascii_domain


@dataclass(frozen=True)
class MailSettings:
    base_url: str  # where the public pages live, e.g. https://digest.example.org

    def __post_init__(self) -> None:
        # The links go into List-Unsubscribe, which must stay ASCII: an IDN host as A-labels.
        if not self.base_url.isascii():
            parts = urlsplit(self.base_url)
            netloc = ascii_domain(parts.hostname or "") + (f":{parts.port}" if parts.port else "")
            ascii_url = urlunsplit(parts._replace(netloc=netloc, path=quote(parts.path, "/%")))
            object.__setattr__(self, "base_url", ascii_url.rstrip("/"))
