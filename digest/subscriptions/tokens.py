"""Signed subscriber links: opaque, bound to one subscription (subscriber and newsletter).

A token is the subscription's number and an HMAC of it: no address, nothing guessable. Keys
rotate: links are signed with the newest key and accepted under any listed key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import lru_cache

from itsdangerous import BadSignature, Signer

SALT = "digest.subscription-link"
TEST_SEND_SUBSCRIPTION = 0  # the links in an editor's test send name no real subscription


class InvalidToken(ValueError):
    """The link was forged, damaged or signed with a key no longer listed."""


@lru_cache(maxsize=8)
def _signer(keys: tuple[str, ...]) -> Signer:
    # One signer per key list: every email carries a token, so making them must be cheap.
    return Signer(list(keys), salt=SALT, digest_method=hashlib.sha256)


def subscription_token(subscription_id: int, keys: Sequence[str]) -> str:
    return _signer(tuple(keys)).sign(f"s{subscription_id}").decode()


def read_subscription_token(token: str, keys: Sequence[str]) -> int:
    try:
        value = _signer(tuple(keys)).unsign(token).decode()
    except (BadSignature, UnicodeError):
        raise InvalidToken("this link is not valid") from None
    if not value.startswith("s") or not value[1:].isdigit():
        raise InvalidToken("this link is not valid")
    return int(value[1:])
