"""VERP return paths: `bounces+TOKEN@DOMAIN`, where the token names the delivery and carries an
HMAC so that a forged bounce cannot suppress anyone.

The HMAC covers the subscription's link secret too (see subscriptions/tokens.py): a bounce that
comes back late for an erased reader cannot reach the delivery that later gets the same number.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Sequence

_TOKEN = re.compile(r"^bounces\+d(\d{1,18})-([0-9a-f]{16})@", re.IGNORECASE)


def _mac(delivery_id: int, link_secret: str | None, key: str) -> str:
    value = f"delivery:{delivery_id}"
    if link_secret is not None:  # deliveries of subscriptions from before secrets: as they were
        value += f":{link_secret}"
    return hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()[:16]


def return_path(delivery_id: int, link_secret: str | None, domain: str, key: str) -> str:
    return f"bounces+d{delivery_id}-{_mac(delivery_id, link_secret, key)}@{domain}"


def delivery_of(
    address: str, keys: Sequence[str], link_secret_of: Callable[[int], str | None]
) -> int | None:
    """The delivery a return-path address names, if its HMAC is good under any key for that
    delivery's link secret (`link_secret_of` raises LookupError for a delivery not held)."""
    match = _TOKEN.match(address.strip().strip("<>"))
    if match is None:
        return None
    delivery_id = int(match[1])
    try:
        link_secret = link_secret_of(delivery_id)
    except LookupError:
        return None
    for key in keys:
        if hmac.compare_digest(_mac(delivery_id, link_secret, key), match[2].lower()):
            return delivery_id
    return None
