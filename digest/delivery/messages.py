"""Building each delivery's message: its edition's cut rendered once, then the subscriber's
copy made from it, with a VERP return path and, when configured, a DKIM signature."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, selectinload, sessionmaker

from digest.delivery.dkim import Signer
from digest.delivery.queue import Claimed, cut_positions
from digest.delivery.verp import return_path
from digest.editions.message import MailSettings, MessageTemplate, archive_url
from digest.editions.render import entries, render_items
from digest.models import Edition

TEMPLATES_KEPT = 512  # rendered cuts kept in memory per edition, most recently used first


@dataclass
class _EditionCache:
    edition: Edition
    items: list[dict[str, object]]
    templates: OrderedDict[str, MessageTemplate] = field(default_factory=OrderedDict)


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
            delivery.subscription_id, delivery.link_secret, delivery.email, delivery.name, self.keys
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
                return found
        # Rendered outside the lock, so that the other connections keep sending meanwhile
        # (two connections may render the same new cut once each: harmless).
        chosen = [cached.items[n] for n in cut_positions(cut, len(cached.items))]
        rendered = render_items(cached.edition, chosen, archive_url(cached.edition, self.settings))
        template = MessageTemplate(cached.edition, rendered, self.settings)
        with self._lock:
            template = cached.templates.setdefault(cut, template)
            if len(cached.templates) > TEMPLATES_KEPT:
                cached.templates.popitem(last=False)
        return template

    def _load(self, edition_id: int) -> _EditionCache:
        with self.factory() as session:
            edition = session.get(
                Edition,
                edition_id,
                options=[selectinload(Edition.entries), selectinload(Edition.newsletter)],
            )
            assert edition is not None  # deliveries go with their edition
            self._editions[edition_id] = _EditionCache(edition, entries(edition))
        return self._editions[edition_id]
