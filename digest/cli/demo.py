"""`digest demo-setup`: accounts, subscribers and a draft edition for trying Digest out."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from digest import accounts
from digest.cli import App, UsageProblem, cli, console, pass_app
from digest.curation import decisions
from digest.db import transaction
from digest.editions import compose
from digest.models import (
    Edition,
    EditionState,
    ItemStatus,
    Newsletter,
    Placement,
    Role,
    Subscriber,
    SubscriberStatus,
    Subscription,
    Topic,
)
from digest.models.lookup import find_newsletter
from digest.subscriptions import suppression
from digest.timeutil import utcnow

DEMO_PASSWORD = "digest-demo-password"
DEMO_STAFF = {
    Role.ADMIN: "admin@demo.example",
    Role.EDITOR: "editor@demo.example",
    Role.LIBRARIAN: "librarian@demo.example",
}
DEMO_READERS = [  # address, name, topics (none: everything)
    ("social.worker@demo.example", "Sam Social-Worker", ["neglect", "case-reviews"]),
    ("teacher@demo.example", "Tara Teacher", ["online-abuse", "safeguarding-in-education"]),
    ("police.officer@demo.example", "Pat Police", ["child-sexual-exploitation"]),
    ("researcher@demo.example", "Rosa Researcher", []),
    ("health.visitor@demo.example", "Hal Health-Visitor", ["health", "early-help"]),
]


@cli.command("demo-setup")
@pass_app
def demo_setup(app: App) -> None:
    """Demo accounts, a few subscribers, and this week's CASPAR draft. Safe to run again: what
    is there already is kept, and said."""
    with transaction(app.require_schema()) as session:
        caspar = find_newsletter(session, "caspar")
        if caspar is None:
            raise UsageProblem("the demo needs the CASPAR newsletter: run init with demo.yaml")
        staff_kept = _add_staff(session)
        readers_kept = _add_readers(session, caspar, app.settings.secret())
        edition, kept = _this_weeks_draft(session, caspar)
    console.print("Demo accounts (password for each: [bold]" + DEMO_PASSWORD + "[/bold]):")
    for role, email in DEMO_STAFF.items():
        console.print(f"  {role.value:<10} {email}")
    if staff_kept or readers_kept:
        console.print(
            f"Kept the {staff_kept} demo accounts and the {readers_kept} demo subscribers "
            "already there (passwords and topics as they were)."
        )
    console.print(f"{len(DEMO_READERS)} demo subscribers of CASPAR.")
    if edition is None:
        console.print("Nothing accepted for CASPAR this week: no draft.")
    elif kept and edition.state is not EditionState.DRAFT:
        console.print(
            f"This week's CASPAR edition {edition.id} is already {edition.state}: kept as it is."
        )
    else:
        console.print(
            f"This week's CASPAR draft is edition {edition.id}" + (" (kept)." if kept else ".")
        )


def _add_staff(session: Session) -> int:
    """The demo's staff accounts that are missing; returns how many were there already."""
    kept = 0
    for role, email in DEMO_STAFF.items():
        if accounts.get_user(session, email) is None:
            accounts.create_user(session, email, role, DEMO_PASSWORD, "demo")
        else:
            kept += 1
    return kept


def _add_readers(session: Session, caspar: Newsletter, hash_key: str) -> int:
    """The demo's subscribers that are missing; returns how many were there already.
    `hash_key` keys the suppression list's hashes."""
    topics = {t.slug: t for t in session.scalars(select(Topic))}
    kept = 0
    for email, name, chosen in DEMO_READERS:
        if session.scalar(select(Subscriber).where(Subscriber.email == email)):
            kept += 1
            continue
        # A demo reader who was erased stays erased: running this again is a staff action.
        if suppression.reason_for(session, email, caspar.id, hash_key):
            continue
        subscriber = Subscriber(email=email, name=name)
        subscriber.subscriptions.append(
            Subscription(
                newsletter=caspar,
                status=SubscriberStatus.ACTIVE,
                confirmed_at=utcnow(),
                topics=[topics[slug] for slug in chosen if slug in topics],
            )
        )
        session.add(subscriber)
    return kept


def _this_weeks_draft(session: Session, caspar: Newsletter) -> tuple[Edition | None, bool]:
    """This week's CASPAR edition, and whether it was there already. A new draft gets the eight
    newest new items, accepted; one already approved or sent is left alone."""
    existing = compose.this_weeks_edition(session, caspar)
    if existing is not None:
        return existing, True
    new = session.scalars(
        select(Placement.id)
        .where(Placement.newsletter_id == caspar.id, Placement.status == ItemStatus.NEW)
        .order_by(Placement.published.desc())
        .limit(8)
    ).all()
    if new:
        decisions.set_status(session, list(new), ItemStatus.ACCEPTED, "demo")
    return compose.build_draft(session, caspar, "demo", person=False), False
