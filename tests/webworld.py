"""A site holding one of everything a route can name, with a valid value for every URL
parameter, and a record of everything stored and sent: for tests that walk every route."""

from __future__ import annotations

import mailbox
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from webapp import STAFF, Site, accept_tagged, add_items, entry, make_site, placements
from werkzeug.routing import Rule

from digest.accounts import reset
from digest.curation import decisions
from digest.db import transaction
from digest.editions import compose
from digest.models import (
    Base,
    Edition,
    EditionState,
    Feed,
    FeedKind,
    ItemStatus,
    Newsletter,
    PossibleDuplicate,
    Role,
    Subscriber,
    SubscriberStatus,
    Subscription,
    Topic,
    User,
)
from digest.subscriptions.signup import confirmation_token
from digest.subscriptions.tokens import subscription_token
from digest.web import context
from digest.web.security import PUBLIC, access_of

KEYS = ["world-key"]
REFUSED_FEED = "http://127.0.0.1:9/feed.xml"  # a loopback address: the fetcher refuses it
# Bookkeeping every request may touch: when a signed-in browser was last seen.
NOT_STATE = {("web_sessions", "last_seen_at")}


@dataclass
class World:
    site: Site
    mail: Path  # the Maildir every message goes to
    arguments: dict[str, object]  # a valid value for each URL parameter, by name
    by_route: dict[tuple[str, str], object]  # ...where one route wants another: (endpoint, name)
    reader: str  # the token of an active subscription (unsubscribe and preference links)
    pending: str  # the confirmation token of a sign-up not yet confirmed

    def path(self, rule: Rule) -> str:
        """The rule's address, with real values: an item that exists, a link that is valid."""
        values = {
            name: self.by_route.get((rule.endpoint, name), self.arguments.get(name))
            for name in rule.arguments
        }
        missing = [name for name, value in values.items() if value is None]
        assert not missing, f"{rule.rule}: add a value for {missing} to tests/webworld.py"
        return rule.build(values)[1]

    def client(self, endpoint: str) -> FlaskClient:
        """A browser allowed to open `endpoint`: anonymous for public pages, else an admin."""
        needed = access_of(self.site.app, endpoint)
        return self.site.app.test_client() if needed == PUBLIC else self.site.client(Role.ADMIN)

    def state(self) -> dict[str, list[tuple[object, ...]]]:
        """Every row of every table, in a stable order."""
        with self.site.factory() as session:
            return {
                table.name: sorted(
                    (
                        tuple(
                            row[c.name]
                            for c in table.columns
                            if (table.name, c.name) not in NOT_STATE
                        )
                        for row in session.execute(select(table)).mappings()
                    ),
                    key=repr,
                )
                for table in Base.metadata.sorted_tables
            }

    def sent(self) -> int:
        """How many messages the app has handed to its transport."""
        return len(mailbox.Maildir(self.mail, create=True))


def make_world(factory: sessionmaker[Session], tmp_path: Path) -> World:
    mail = tmp_path / "mail"
    site = make_site(
        factory,
        token_keys=tuple(KEYS),
        base_url="https://digest.example.org",
        mail_url=f"maildir:{mail}",
        demo=True,  # so that the outbox pages exist
    )
    sent_edition, draft = _editions(factory)
    (new_item, look_alike) = add_items(
        factory,
        [
            entry("A report on neglect", "https://example.org/neglect"),
            entry("A report on neglect (again)", "https://example.org/neglect-again"),
        ],
    )
    with transaction(factory) as session:
        session.add(PossibleDuplicate(item_id=new_item, other_id=look_alike, reason="test"))
        for feed in session.scalars(select(Feed)):
            feed.url = REFUSED_FEED  # "poll now" is refused at once, without the network
        reader, pending = _subscribers(session)
    box = mailbox.Maildir(mail, create=True)
    message = EmailMessage()
    message["To"], message["Subject"] = "reader@example.org", "Outbox test"
    message["Date"] = "Tue, 24 Nov 2026 09:00:00 +0000"
    message.set_content("Hello.")
    key = box.add(message)
    with factory() as session:
        arguments: dict[str, object] = {
            "item_id": new_item,
            "placement_id": placements(factory, [new_item])[0],
            "pair_id": session.scalar(select(PossibleDuplicate.id)),
            "feed_id": session.scalar(
                select(Feed.id).where(Feed.kind == FeedKind.FEED).order_by(Feed.id)
            ),
            "user_id": session.scalar(select(User.id).where(User.email == STAFF[Role.LIBRARIAN])),
            "topic_id": session.scalar(select(Topic.id).where(Topic.slug == "neglect")),
            "edition_id": draft,
            "subscriber_id": session.scalar(
                select(Subscriber.id).where(Subscriber.email == "reader@example.org")
            ),
            "slug": "caspar",
            "filename": "app.css",
            "key": key,
        }
    by_route: dict[tuple[str, str], object] = {
        ("public.unsubscribe", "token"): reader,
        ("public.preferences", "token"): reader,
        ("public.confirm", "token"): pending,
        ("public.archived_edition", "edition_id"): sent_edition,
        ("public.archived_items", "edition_id"): sent_edition,
        ("public.archived_items", "fmt"): "ris",
        ("editions.export_items", "edition_id"): sent_edition,
        ("editions.export_items", "fmt"): "bib",
        ("public.topic_feed", "slug"): "neglect",
        ("auth.reset_password", "token"): _reset_token(site),
    }
    return World(site, mail, arguments, by_route, reader, pending)


def _reset_token(site: Site) -> str:
    """A live password-reset link's token, for the librarian."""
    with site.factory() as session:
        user = session.scalar(select(User).where(User.email == STAFF[Role.LIBRARIAN]))
        return reset.reset_token(user, site.app.extensions[context.SETTINGS].secret())


def _editions(factory: sessionmaker[Session]) -> tuple[int, int]:
    """A sent edition (last week's, in the archive) and this week's draft."""
    accept_tagged(factory, [("Sent item", "neglect"), ("Another sent item", "online-grooming")])
    with transaction(factory) as session:
        caspar = session.scalar(select(Newsletter).where(Newsletter.slug == "caspar"))
        sent = compose.build_draft(session, caspar, STAFF[Role.EDITOR])
        sent.period_start -= timedelta(days=7)
        sent.state = EditionState.SENT
        sent.sent_at = datetime(2026, 11, 17, 9, tzinfo=UTC)
        session.flush()
        sent_id = sent.id
    (later,) = add_items(factory, [entry("Draft item", "https://example.org/draft")])
    with transaction(factory) as session:
        decisions.set_status(session, placements(factory, [later]), ItemStatus.ACCEPTED, "test")
    with transaction(factory) as session:
        caspar = session.scalar(select(Newsletter).where(Newsletter.slug == "caspar"))
        draft = compose.build_draft(session, caspar, STAFF[Role.EDITOR])
        session.flush()
        assert draft is not None and session.get(Edition, sent_id).state is EditionState.SENT
        return sent_id, draft.id


def _subscribers(session: Session) -> tuple[str, str]:
    """An active subscriber's link token, and a pending sign-up's confirmation token."""
    caspar = session.scalar(select(Newsletter).where(Newsletter.slug == "caspar"))
    active = Subscription(
        newsletter=caspar,
        status=SubscriberStatus.ACTIVE,
        confirmed_at=datetime(2026, 1, 5, tzinfo=UTC),
    )
    waiting = Subscription(newsletter=caspar, status=SubscriberStatus.PENDING)
    session.add(Subscriber(email="reader@example.org", name="Reader", subscriptions=[active]))
    session.add(Subscriber(email="pending@example.org", name="Pending", subscriptions=[waiting]))
    session.flush()
    return (
        subscription_token(active.id, active.link_secret, KEYS),
        confirmation_token(waiting.id, waiting.link_secret, KEYS),
    )
