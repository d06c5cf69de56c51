"""Signed subscriber links: opaque, bound to one subscription (subscriber and newsletter).

Keys rotate: links are signed with the newest key and accepted under any listed key.
"""

from __future__ import annotations

from collections.abc import Sequence

from itsdangerous import BadSignature, URLSafeSerializer

SALT = "digest.subscription-link"


class InvalidToken(ValueError):
    """The link was forged, damaged or signed with a key no longer listed."""


def _serializer(keys: Sequence[str]) -> URLSafeSerializer:
    return URLSafeSerializer(list(keys), salt=SALT)


def subscription_token(subscription_id: int, keys: Sequence[str]) -> str:
    return _serializer(keys).dumps({"s": subscription_id})


def read_subscription_token(token: str, keys: Sequence[str]) -> int:
    try:
        payload = _serializer(keys).loads(token)
    except BadSignature:
        raise InvalidToken("this link is not valid") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("s"), int):
        raise InvalidToken("this link is not valid")
    return payload["s"]
