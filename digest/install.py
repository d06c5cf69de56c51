"""This install's identity: the random token its migration made, which the names Digest
gives the world (Message-IDs, MIME boundaries) carry, so that they never repeat across
installs or a database made again, and stay the same within one."""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from digest.models import Installation


def install_token(session: Session) -> str:
    """The token (16 hex digits). Made now, and kept, if the row was ever lost."""
    token = session.scalar(select(Installation.token).where(Installation.id == 1))
    if token is not None:
        return token
    # In a session of its own, committed at once: the caller's may never be.
    with Session(session.get_bind()) as own:
        try:
            with own.begin():
                own.add(Installation(id=1, token=secrets.token_hex(8)))
        except IntegrityError:  # another process made it first
            pass
        return own.scalars(select(Installation.token).where(Installation.id == 1)).one()
