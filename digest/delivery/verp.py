"""VERP return paths: `bounces+TOKEN@DOMAIN`, where the token names the delivery and carries an
HMAC so that a forged bounce cannot suppress anyone."""

from __future__ import annotations

import hashlib
import hmac
import re

_TOKEN = re.compile(r"^bounces\+d(\d+)-([0-9a-f]{16})@", re.IGNORECASE)


def _mac(delivery_id: int, key: str) -> str:
    digest = hmac.new(key.encode(), f"delivery:{delivery_id}".encode(), hashlib.sha256)
    return digest.hexdigest()[:16]


def return_path(delivery_id: int, domain: str, key: str) -> str:
    return f"bounces+d{delivery_id}-{_mac(delivery_id, key)}@{domain}"


def delivery_of(address: str, keys: list[str]) -> int | None:
    """The delivery a return-path address names, if its HMAC is good under any key."""
    match = _TOKEN.match(address.strip().strip("<>"))
    if match is None:
        return None
    delivery_id = int(match[1])
    for key in keys:
        if hmac.compare_digest(_mac(delivery_id, key), match[2].lower()):
            return delivery_id
    return None
