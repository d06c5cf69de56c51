"""What sign-up needs from the mail side, said here, where it is used.

Sign-up decides which short emails to send (`Notice`) and stores them; a `Mailer` sends them.
The delivery stage provides one (`delivery.notices.NoticeMailer`, through each newsletter's
transport) and the web app passes it in, so subscriptions never import delivery: delivery
depends on subscriptions (bounces and complaints suppress subscribers), not the other way.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Protocol


@dataclass(frozen=True)
class Notice:
    """A notice decided on but not yet sent: kept (as JSON) until it has gone, so that deciding
    and sending can happen apart."""

    transport: str | None  # the name of the newsletter's transport; None: the default
    from_address: str
    to: str
    subject: str
    text: str

    def as_json(self) -> dict[str, str | None]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, str | None]) -> Notice:
        return cls(**data)  # type: ignore[arg-type]


class Mailer(Protocol):
    def send_notices(self, notices: Iterable[Notice]) -> int:
        """Send each notice; one that cannot go is logged and the rest go on. Returns how
        many went."""
        ...
