"""How the library names itself to subscribers and visitors: the newsletter's organisation
and title, never the software's name. Used by the public pages and the mail they get."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from digest.models import Newsletter

DEFAULT_COLOUR = "#0b3d6b"  # 9.9:1 under white text
_HEX = re.compile(r"^#[0-9a-f]{6}$")  # as the config stores a colour it checked


@dataclass(frozen=True)
class Voice:
    """Who speaks: `name` signs pages and mail (the organisation, else the newsletter's title);
    `slug` is the newsletter whose archive and sign-up a visitor is offered (None: none)."""

    name: str
    slug: str | None = None
    title: str | None = None
    colour: str = DEFAULT_COLOUR
    logo: str | None = None
    organisation: str | None = None
    postal_address: str | None = None

    @property
    def address_lines(self) -> list[str]:
        return (self.postal_address or "").splitlines()

    def signature(self) -> str:
        """The lines that close a plain-text email: who sent it, and where they are."""
        lines = [self.organisation or self.name, *self.address_lines]
        return "\n".join(["--", *lines]) + "\n"


def voice_of(newsletter: Newsletter) -> Voice:
    return Voice(
        name=newsletter.organisation or newsletter.title,
        slug=newsletter.slug,
        title=newsletter.title,
        colour=newsletter.colour if _HEX.match(newsletter.colour or "") else DEFAULT_COLOUR,
        logo=newsletter.logo,
        organisation=newsletter.organisation,
        postal_address=newsletter.postal_address,
    )


def library_voice(session: Session) -> Voice:
    """The voice of a page about no one newsletter (a lost link, a page not found): the first
    newsletter's organisation and look (the one most installs have), else every title."""
    newsletters = list(session.scalars(select(Newsletter).order_by(Newsletter.id)))
    if not newsletters:
        return Voice(name="Newsletters")
    voice = voice_of(newsletters[0])
    if voice.organisation or len(newsletters) == 1:
        return voice
    names = [n.title for n in newsletters]
    together = ", ".join(names[:-1]) + " and " + names[-1]
    return Voice(name=together, slug=voice.slug, title=voice.title, colour=voice.colour)
