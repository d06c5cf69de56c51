"""Building each delivery's message: its edition's cut rendered once, then the subscriber's
copy made from it, with a VERP return path and, when configured, a DKIM signature."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session, selectinload, sessionmaker

from digest.delivery.queue import Claimed, cut_positions
from digest.delivery.verp import return_path
from digest.editions.message import MessageError, MessageTemplate, archive_url
from digest.editions.render import entries, render_items
from digest.install import install_token
from digest.mailsettings import MailSettings
from digest.models import Edition

if TYPE_CHECKING:  # DKIM's libraries take longer to load than a send of hundreds of messages
    from digest.delivery.dkim import Signer

log = logging.getLogger(__name__)
TEMPLATES_KEPT = 512  # rendered cuts kept in memory per edition, most recently used first


@dataclass
class _EditionCache:
    edition: Edition
    items: list[dict[str, object]]
    install: str  # this install's token, for the Message-IDs
    # A cut that cannot be made is kept as the reason, so that each of its deliveries fails
    # at once rather than rendering it again.
    templates: OrderedDict[str, MessageTemplate | CutError] = field(default_factory=OrderedDict)


class CutError(MessageError):
    """The message of a whole cut cannot be made (logged once, when it is tried)."""


def _usable(made: MessageTemplate | CutError) -> MessageTemplate:
    if isinstance(made, CutError):
        raise CutError(str(made))
    return made


class MessageFactory:
    """Thread-safe: every connection of a worker builds its messages here."""

    def __init__(
        self, factory: sessionmaker[Session], keys: list[str], settings: MailSettings
    ) -> None:
        self.factory, self.keys, self.settings = factory, keys, settings
        self._editions: dict[int, _EditionCache] = {}
        self._lock = threading.Lock()

    def build(self, delivery: Claimed, signer: Signer | None = None) -> tuple[str, bytes]:
        """The envelope sender and the bytes to send."""
        template = self._template(delivery.edition_id, delivery.cut)
        raw = template.bytes_for(
            delivery.subscription_id,
            delivery.link_secret,
            delivery.email,
            delivery.name,
            self.keys,
            subscribed=delivery.subscribed_at,
        )
        if signer is not None:
            raw = signer.sign(raw)
        return return_path(delivery.id, delivery.link_secret, template.domain, self.keys[-1]), raw

    def forget(self, edition_id: int) -> None:
        with self._lock:
            self._editions.pop(edition_id, None)

    def _template(self, edition_id: int, cut: str) -> MessageTemplate:
        with self._lock:
            cached = self._editions.get(edition_id) or self._load(edition_id)
            if (found := cached.templates.get(cut)) is not None:
                cached.templates.move_to_end(cut)
                return _usable(found)
        # Rendered outside the lock, so that the other connections keep sending meanwhile
        # (two connections may render the same new cut once each: harmless).
        made: MessageTemplate | CutError
        try:
            chosen = [cached.items[n] for n in cut_positions(cut, len(cached.items))]
            edition = cached.edition
            rendered = render_items(edition, chosen, archive_url(edition, self.settings))
            made = MessageTemplate(edition, rendered, self.settings, cached.install)
        except Exception as exc:
            log.exception("edition %d: the message for cut %r cannot be made", edition_id, cut)
            made = CutError(f"the edition's message cannot be made: {exc}")
        with self._lock:
            made = cached.templates.setdefault(cut, made)
            if len(cached.templates) > TEMPLATES_KEPT:
                cached.templates.popitem(last=False)
        return _usable(made)

    def _load(self, edition_id: int) -> _EditionCache:
        with self.factory() as session:
            edition = session.get(
                Edition,
                edition_id,
                options=[selectinload(Edition.entries), selectinload(Edition.newsletter)],
            )
            assert edition is not None  # deliveries go with their edition
            cache = _EditionCache(edition, entries(edition), install_token(session))
            self._editions[edition_id] = cache
        return self._editions[edition_id]
