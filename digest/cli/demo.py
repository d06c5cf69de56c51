"""`digest demo-setup`: accounts, subscribers and a draft edition for trying Digest out."""

from __future__ import annotations

from sqlalchemy import select

from digest import accounts
from digest.cli import App, cli, console, database_errors, pass_app
from digest.curation import decisions
from digest.db import transaction
from digest.editions import compose
from digest.keys import secret_key
from digest.models import (
    Item,
    ItemStatus,
    Newsletter,
    Role,
    Subscriber,
    SubscriberStatus,
    Subscription,
    Topic,
)
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
@database_errors
def demo_setup(app: App) -> None:
    """Demo accounts, a few subscribers, and this week's CASPAR draft (safe to run again)."""
    with transaction(app.require_schema()) as session:
        for role, email in DEMO_STAFF.items():
            if accounts.get_user(session, email) is None:
                accounts.create_user(session, email, role, DEMO_PASSWORD, "demo")
        topics = {t.slug: t for t in session.scalars(select(Topic))}
        caspar = session.scalar(select(Newsletter).where(Newsletter.slug == "caspar"))
        for email, name, chosen in DEMO_READERS:
            if session.scalar(select(Subscriber).where(Subscriber.email == email)):
                continue
            # A demo reader who was erased stays erased: running this again is a staff action.
            if suppression.reason_for(session, email, caspar.id, secret_key()):
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
        new = session.scalars(
            select(Item.id)
            .where(Item.newsletter_id == caspar.id, Item.status == ItemStatus.NEW)
            .order_by(Item.published.desc())
            .limit(8)
        ).all()
        if new:
            decisions.set_status(session, list(new), ItemStatus.ACCEPTED, "demo")
        draft = compose.build_draft(session, caspar, "demo")
    console.print("Demo accounts (password for each: [bold]" + DEMO_PASSWORD + "[/bold]):")
    for role, email in DEMO_STAFF.items():
        console.print(f"  {role.value:<10} {email}")
    console.print(
        f"{len(DEMO_READERS)} demo subscribers of CASPAR"
        + (f"; this week's draft is edition {draft.id}." if draft else ".")
    )
