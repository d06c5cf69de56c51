"""Who built, edited and approved an edition, and what the second-approver rule makes of it.

With the rule on, an edition needs two different people: one who approves it and another who
built, edited or approved it. The scheduler builds drafts but is not a person. Approvals are
of the content as it stood: a change to a draft someone approved sets that approval aside.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from digest import audit
from digest.models import Contribution, Edition, EditionContributor, EditionState
from digest.timeutil import utcnow

__all__ = [
    "approvers",
    "awaiting_second_approver",
    "contributed",
    "contributors_in_words",
    "set_aside_approvals",
    "someone_else",
    "withdraw_approvals",
]


def contributed(
    edition: Edition, actor: str, kind: Contribution, person: bool = True
) -> EditionContributor:
    """Record that `actor` did `kind` to the edition (once: a repeat updates the time)."""
    for each in edition.contributors:
        if (each.actor, each.kind) == (actor, kind):
            each.at = utcnow()
            return each
    contribution = EditionContributor(actor=actor, kind=kind, person=person, at=utcnow())
    edition.contributors.append(contribution)
    return contribution


def approvers(edition: Edition) -> list[str]:
    """Who has approved the edition as it now stands, first first."""
    return [c.actor for c in edition.contributors if c.kind is Contribution.APPROVED]


def withdraw_approvals(session: Session, edition: Edition) -> list[str]:
    """Remove every approval of the edition; returns who had approved it."""
    earlier = approvers(edition)
    if earlier:
        edition.contributors = [
            c for c in edition.contributors if c.kind is not Contribution.APPROVED
        ]
        session.flush()  # gone before anyone approves again (the same row would come back)
    return earlier


def set_aside_approvals(session: Session, edition: Edition, actor: str) -> None:
    """A change to a draft that someone approved (waiting for a second person) needs
    approving afresh: the approval was of what it said before."""
    earlier = withdraw_approvals(session, edition)
    if not earlier:
        return
    audit.record(
        session,
        actor=actor,
        action=audit.Action.EDITION_APPROVALS_SET_ASIDE,
        object_type=audit.ObjectType.EDITION,
        object_id=edition.id,
        summary=edition.subject,
        before={"approved_by": earlier},
    )


def awaiting_second_approver(edition: Edition) -> str | None:
    """For a draft approved by someone who needs a second editor: that, in words."""
    waiting = approvers(edition) if edition.state is EditionState.DRAFT else []
    if not waiting:
        return None
    names = " and ".join(waiting)
    return f"approved by {names}; needs a second editor other than {names}"


def someone_else(edition: Edition, actor: str) -> bool:
    """Whether a person other than `actor` built, edited or approved the edition."""
    return any(c.person and c.actor != actor for c in edition.contributors)


def contributors_in_words(edition: Edition) -> str:
    """Who had a hand in the edition: "built by the scheduler; edited by A; approved by A"."""
    parts = []
    for kind in Contribution:
        names = [
            c.actor if c.person else f"the {c.actor}"
            for c in edition.contributors
            if c.kind is kind
        ]
        if names:
            parts.append(f"{kind.value} by {' and '.join(names)}")
    return "; ".join(parts)
