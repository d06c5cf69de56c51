"""Signed subscriber links: opaque, bound to one subscription (subscriber and newsletter).

A token is the subscription's number and an HMAC of that number together with the
subscription's own random link secret. The secret never leaves the database, so a link opens
only the row it was made for: when that row is erased and a later subscription gets the same
number (SQLite reuses them; so does a restored or reset database), the old link opens nothing.
Rows made before links carried a secret have none, and their links are signed as they were.

The `mailto:` address of List-Unsubscribe carries a second form, `ID-MAC` in lower-case
base32, because mail servers may change the case of a local part. Keys rotate: links are
signed with the newest key and accepted under any listed key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Sequence
from functools import lru_cache

from itsdangerous import BadSignature, Signer

from digest.errors import Invalid

SALT = "digest.subscription-link"
MAILTO_SALT = b"digest.subscription-mailto"
MAILTO_MAC_BYTES = 15  # 120 bits: 24 base32 characters, so the local part stays under 64
TEST_SEND_SUBSCRIPTION = 0  # the links in an editor's test send name no real subscription
_LINK = re.compile(r"s(\d{1,18})\.([A-Za-z0-9_-]+)")
_MAILTO = re.compile(r"(\d{1,18})-([a-z2-7]{24})")


class InvalidToken(Invalid):
    """The link was forged, damaged, made for another subscription, or signed with a key no
    longer listed."""


@lru_cache(maxsize=8)
def _signer(keys: tuple[str, ...]) -> Signer:
    # One signer per key list: every email carries a token, so making them must be cheap.
    return Signer(list(keys), salt=SALT, digest_method=hashlib.sha256)


def _signed_value(subscription_id: int, link_secret: str | None) -> bytes:
    value = f"s{subscription_id}"
    return (value if link_secret is None else f"{value}.{link_secret}").encode()


@lru_cache(maxsize=8)
def _link_mac(keys: tuple[str, ...]) -> hmac.HMAC:
    """The HMAC that itsdangerous's signer makes with the newest key, keyed once: every email
    carries a token, and copying a keyed HMAC costs a fraction of keying a new one."""
    return hmac.new(_signer(keys).derive_key(), digestmod=hashlib.sha256)


def _mac(keyed: hmac.HMAC, value: bytes) -> bytes:
    mac = keyed.copy()
    mac.update(value)
    return mac.digest()


def subscription_token(subscription_id: int, link_secret: str | None, keys: Sequence[str]) -> str:
    """The token of a subscription's links (unsubscribe page, preference centre): what
    itsdangerous's `Signer.get_signature` gives, made faster."""
    mac = _mac(_link_mac(tuple(keys)), _signed_value(subscription_id, link_secret))
    return f"s{subscription_id}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


def token_subscription(token: str) -> int:
    """The subscription number a token claims (not yet checked: see `check_token`)."""
    if match := _LINK.fullmatch(token):
        return int(match[1])
    raise InvalidToken("this link is not valid")


def check_token(
    token: str, subscription_id: int, link_secret: str | None, keys: Sequence[str]
) -> None:
    """Raise InvalidToken unless `token` was made for this subscription and secret."""
    match = _LINK.fullmatch(token)
    if match is None or int(match[1]) != subscription_id:
        raise InvalidToken("this link is not valid")
    value = _signed_value(subscription_id, link_secret)
    try:
        valid = _signer(tuple(keys)).verify_signature(value, match[2].encode())
    except BadSignature:
        valid = False
    if not valid:
        raise InvalidToken("this link is not valid")


@lru_cache(maxsize=8)
def _mailto_keyed(key: str) -> hmac.HMAC:
    return hmac.new(key.encode(), MAILTO_SALT + b":", hashlib.sha256)


def _mailto_mac(key: str, subscription_id: int, link_secret: str | None) -> str:
    digest = _mac(_mailto_keyed(key), _signed_value(subscription_id, link_secret))
    return base64.b32encode(digest[:MAILTO_MAC_BYTES]).decode().lower()


def mailto_token(subscription_id: int, link_secret: str | None, keys: Sequence[str]) -> str:
    """The token of the List-Unsubscribe `mailto:` address: the same whatever its case."""
    return f"{subscription_id}-{_mailto_mac(keys[-1], subscription_id, link_secret)}"


def mailto_subscription(token: str) -> int | None:
    """The subscription number a mailto token claims; None when it is not of that form."""
    match = _MAILTO.fullmatch(token.lower())
    return int(match[1]) if match else None


def check_mailto_token(
    token: str, subscription_id: int, link_secret: str | None, keys: Sequence[str]
) -> None:
    match = _MAILTO.fullmatch(token.lower())
    if match is None or int(match[1]) != subscription_id:
        raise InvalidToken("this unsubscribe address is not valid")
    if not any(
        hmac.compare_digest(match[2], _mailto_mac(key, subscription_id, link_secret))
        for key in keys
    ):
        raise InvalidToken("this unsubscribe address is not valid")
