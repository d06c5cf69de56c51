"""DKIM signing (RSA-SHA256) of the exact bytes that are sent."""

from __future__ import annotations

from pathlib import Path

import dkim

from digest.config.schema import DkimConfig

# The headers a receiver must see unchanged: who it is from and to, what it is, and how to
# leave the list.
SIGNED_HEADERS = (
    b"From",
    b"To",
    b"Subject",
    b"Date",
    b"Message-ID",
    b"List-Id",
    b"List-Unsubscribe",
    b"List-Unsubscribe-Post",
)


class Signer:
    def __init__(self, config: DkimConfig) -> None:
        self.domain = config.domain.encode()
        self.selector = config.selector.encode()
        self.key = Path(config.key_file).read_bytes()

    def sign(self, raw: bytes) -> bytes:
        """`raw` with a DKIM-Signature header in front."""
        signature = dkim.sign(
            raw,
            self.selector,
            self.domain,
            self.key,
            include_headers=list(SIGNED_HEADERS),
            canonicalize=(b"relaxed", b"simple"),
        )
        return signature + raw
