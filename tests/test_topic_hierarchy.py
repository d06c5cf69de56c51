"""A parent topic includes its descendants, wherever chosen topics are matched against items'.

A subscriber who chooses "Online abuse" gets what is tagged "Online grooming" (its child) and
what is tagged below that: in the email they are sent, in the editor's preview and its counts,
in the topic's Atom feed and in the archive filtered by the topic. Merging a topic into another
moves its subscribers' choices as well as its items and feeds.
"""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime

import feedparser
import pytest
from click.testing import CliRunner
from smtp import smtp_server
from sqlalchemy import func, select
from webapp import Site, accept_tagged, csrf_token, make_site

from digest.cli import cli
from digest.curation import topics as vocabulary
from digest.db import transaction
from digest.delivery import queue
from digest.delivery.sender import Settings, Worker
from digest.delivery.transport import Transport
from digest.editions import compose
from digest.editions.message import MailSettings
from digest.models import (
    AuditEntry,
    Delivery,
    DeliveryStatus,
    Edition,
    EditionState,
    Newsletter,
    Role,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionTopic,
    Topic,
)

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
# The test config has online-abuse > online-grooming; the fixture adds a grandchild.
GRANDCHILD = "grooming-in-games"
TAGGED = [
    ("Grooming on gaming platforms — ゲーム 🎮", GRANDCHILD),
    ("Sextortion: what schools should know", "online-grooming"),
    ("Neglect in adolescence", "neglect"),
]
READERS = {  # address: chosen topics
    "parent@example.org": ["online-abuse"],
    "parent-and-child@example.org": ["online-abuse", "online-grooming"],
    "child@example.org": ["online-grooming"],
    "neglect@example.org": ["neglect"],
    "games@example.org": [GRANDCHILD],
}


TREE = {"a": None, "b": "a", "c": "b", "d": "c", "e": "a", "x": None, "y": "x"}


@pytest.mark.parametrize(
    ("chosen", "expected"),
    [
        ({"a"}, {"a", "b", "c", "d", "e"}),  # children, grandchildren and further down
        ({"b"}, {"b", "c", "d"}),  # not the parent, not the sibling
        ({"d"}, {"d"}),  # a leaf is itself
        ({"c", "y"}, {"c", "d", "y"}),
        ({"unknown"}, {"unknown"}),  # a slug no longer in the vocabulary still matches itself
        (set(), set()),  # nothing chosen stays nothing (everything is decided elsewhere)
    ],
)
def test_a_topic_stands_for_itself_and_every_topic_below_it(
    chosen: set[str], expected: set[str]
) -> None:
    assert vocabulary.with_descendants(chosen, TREE) == frozenset(expected)


@pytest.mark.parametrize(
    ("tree", "chosen", "expected"),
    [
        ({"a": "b", "b": "a"}, {"b"}, {"a", "b"}),  # two topics each other's parent
        ({"a": "a"}, {"a"}, {"a"}),  # a topic its own parent
        ({"a": None, "b": "c", "c": "b", "d": "b"}, {"b"}, {"b", "c", "d"}),  # a loop below
    ],
)
def test_a_loop_in_the_parents_ends_the_walk(
    tree: dict[str, str | None], chosen: set[str], expected: set[str]
) -> None:
    assert vocabulary.with_descendants(chosen, tree) == frozenset(expected)


@pytest.mark.parametrize(
    ("topics", "named"),
    [
        ({"a", "b", "c", "d", "e"}, {"a"}),  # a parent with all below it is named by the parent
        ({"b", "c", "d", "y"}, {"b", "y"}),
        ({"d"}, {"d"}),
    ],
)
def test_a_set_of_topics_is_named_by_those_below_no_other(
    topics: set[str], named: set[str]
) -> None:
    assert vocabulary.topmost(frozenset(topics), TREE) == frozenset(named)


def slugs(session) -> dict[str, Topic]:
    return {t.slug: t for t in session.scalars(select(Topic))}


@pytest.fixture
def site(factory) -> Site:
    """Three items accepted into CASPAR (grandchild, child, unrelated) and five readers."""
    site = make_site(factory)
    with transaction(factory) as session:
        grooming = slugs(session)["online-grooming"]
        vocabulary.add_topic(
            session, GRANDCHILD, "Grooming in games", "admin@example.org", parent_id=grooming.id
        )
    accept_tagged(factory, TAGGED)
    with transaction(factory) as session:
        caspar = session.scalar(select(Newsletter).where(Newsletter.slug == "caspar"))
        topics = slugs(session)
        for email, chosen in READERS.items():
            subscriber = Subscriber(email=email, name="Reader")
            subscriber.subscriptions.append(
                Subscription(
                    newsletter=caspar,
                    status=SubscriberStatus.ACTIVE,
                    topics=[topics[slug] for slug in chosen],
                )
            )
            session.add(subscriber)
    return site


def build(site: Site) -> int:
    with transaction(site.factory) as session:
        caspar = session.scalar(select(Newsletter).where(Newsletter.slug == "caspar"))
        return compose.build_draft(session, caspar, "editor@example.org", NOW).id


def approve(site: Site) -> int:
    edition_id = build(site)
    with transaction(site.factory) as session:
        compose.approve(session, session.get(Edition, edition_id), "editor@example.org", now=NOW)
    return edition_id


def test_a_subscriber_choosing_a_parent_is_sent_its_descendants_items(site: Site) -> None:
    edition_id = approve(site)
    with transaction(site.factory) as session:
        edition = session.get(Edition, edition_id)
        edition.newsletter.note_when_nothing_matches = False  # a reader with nothing is skipped
        assert dict(queue.enqueue(session, edition)) == {"queued": 5}
    with smtp_server() as (inbox, url):
        Worker(
            site.factory.kw["bind"],
            Settings(
                ["hierarchy-test-key"], MailSettings("https://digest.example.org"), "test-hash-key"
            ),
            {None: Transport(url)},
        ).run(until_idle=True)
    received = {to: _text(raw) for _, (to,), raw in inbox.received}

    def titles(address: str) -> set[str]:
        return {title for title, _ in TAGGED if title in received[address]}

    everything_about_abuse = {TAGGED[0][0], TAGGED[1][0]}
    assert titles("parent@example.org") == everything_about_abuse
    assert titles("parent-and-child@example.org") == everything_about_abuse
    assert titles("child@example.org") == everything_about_abuse
    assert titles("neglect@example.org") == {"Neglect in adolescence"}
    assert titles("games@example.org") == {TAGGED[0][0]}  # not the parent's other items


def _text(raw: bytes) -> str:
    """The text part of a message, decoded."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    return message.get_body(("plain",)).get_content()


def test_cut_counts_follow_the_hierarchy_when_nothing_else_matches(site: Site) -> None:
    """With only descendants' items in an edition, the parent's readers are still sent it."""
    with transaction(site.factory) as session:
        caspar = session.scalar(select(Newsletter).where(Newsletter.slug == "caspar"))
        caspar.note_when_nothing_matches = False
    edition_id = approve(site)
    with transaction(site.factory) as session:
        edition = session.get(Edition, edition_id)
        neglect = next(e for e in edition.entries if e.frozen["topics"] == ["neglect"])
        edition.entries.remove(neglect)
    with transaction(site.factory) as session:
        counts = queue.enqueue(session, session.get(Edition, edition_id))
        skipped = session.scalars(
            select(Subscriber.email)
            .join(Delivery, Delivery.subscriber_id == Subscriber.id)
            .where(Delivery.status == DeliveryStatus.SKIPPED)
        ).all()
    assert dict(counts) == {"queued": 4, "skipped": 1}
    assert skipped == ["neglect@example.org"]


def test_the_preview_counts_and_shows_each_cut_with_descendants(site: Site) -> None:
    edition_id = build(site)
    client = site.client(Role.EDITOR)
    page = client.get(f"/editions/{edition_id}").text
    # Choosing a parent with its child is the same cut as choosing the parent alone.
    # Each cut named by its topics' labels, with the items that topics below them bring.
    assert ">Online abuse</a> — 2 subscribers, 2 items <span" in page
    assert ">Online grooming</a> — 1 subscriber, 2 items <span" in page
    assert ">Grooming in games</a> — 1 subscriber, 1 item</li>" in page
    preview = client.get(f"/editions/{edition_id}/preview?topics=online-abuse").text
    assert "Grooming on gaming platforms" in preview and "Sextortion" in preview
    assert "Neglect in adolescence" not in preview
    text = client.get(f"/editions/{edition_id}/preview?topics=online-grooming&format=text").text
    assert "Grooming on gaming platforms" in text and "Neglect" not in text


def test_the_cli_renders_a_parent_choosers_email_with_descendants(site: Site, tmp_path) -> None:
    edition_id = build(site)
    db = site.factory.kw["bind"].url.render_as_string(hide_password=False)
    out = tmp_path / "parent.eml"
    result = CliRunner().invoke(
        cli,
        [
            "--db",
            db,
            "edition",
            "render",
            str(edition_id),
            "--subscriber",
            "parent@example.org",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "2 items" in result.output


def send_everything(site: Site) -> int:
    edition_id = approve(site)
    with transaction(site.factory) as session:
        session.get(Edition, edition_id).state = EditionState.SENT
        session.get(Edition, edition_id).send_at = NOW
    return edition_id


def test_the_atom_feed_of_a_parent_topic_carries_its_descendants_items(site: Site) -> None:
    send_everything(site)
    client = site.app.test_client()
    parent = feedparser.parse(client.get("/topics/online-abuse/feed.atom").data)
    assert not parent.bozo
    assert {e.title for e in parent.entries} == {TAGGED[0][0], TAGGED[1][0]}
    child = feedparser.parse(client.get("/topics/online-grooming/feed.atom").data)
    assert {e.title for e in child.entries} == {TAGGED[0][0], TAGGED[1][0]}
    leaf = feedparser.parse(client.get(f"/topics/{GRANDCHILD}/feed.atom").data)
    assert [e.title for e in leaf.entries] == [TAGGED[0][0]]


def test_the_archive_filtered_by_a_parent_topic_finds_its_descendants_items(site: Site) -> None:
    send_everything(site)
    client = site.app.test_client()
    page = client.get("/archive/caspar?topic=online-abuse").text
    assert page.count("CASPAR: week commencing 23 November 2026") == 1
    assert page.count("Grooming on gaming platforms") == 1 and page.count("Sextortion") == 1
    assert "Neglect in adolescence" not in page
    assert '<option value="online-abuse" selected>Online abuse</option>' in page
    assert "Neglect in adolescence" in client.get("/archive/caspar?topic=neglect").text
    assert "No edition matches" in client.get("/archive/caspar?topic=legislation-and-policy").text
    assert client.get("/archive/caspar?topic=no-such-topic").status_code == 404


def test_merging_a_topic_moves_its_subscribers_choices_without_duplicates(site: Site) -> None:
    with site.factory() as session:
        topics = {slug: t.id for slug, t in slugs(session).items()}
    client = site.client(Role.ADMIN)
    merged = client.post(
        f"/admin/topics/{topics['online-grooming']}",
        data={
            "action": "merge",
            "into": topics["online-abuse"],
            "confirmed": "yes",
            "csrf_token": csrf_token(client),
        },
        follow_redirects=True,
    )
    assert "Merged “Online grooming” into “Online abuse”" in merged.text
    with site.factory() as session:
        chosen = {
            s.subscriber.email: [t.slug for t in s.topics]
            for s in session.scalars(select(Subscription))
        }
        assert chosen == {
            "parent@example.org": ["online-abuse"],
            "parent-and-child@example.org": ["online-abuse"],
            "child@example.org": ["online-abuse"],  # kept their interest, under its new name
            "neglect@example.org": ["neglect"],
            "games@example.org": [GRANDCHILD],
        }
        assert session.scalar(select(func.count()).select_from(SubscriptionTopic)) == 5
        # The merged topic's child now hangs from the survivor.
        assert slugs(session)[GRANDCHILD].parent.slug == "online-abuse"
        (entry,) = session.scalars(select(AuditEntry).where(AuditEntry.action == "topic.merge"))
        assert entry.before["subscriptions"] == 2


def test_merging_a_parent_into_its_child_makes_no_loop(site: Site) -> None:
    with transaction(site.factory) as session:
        topics = slugs(session)
        vocabulary.merge(
            session, topics["online-abuse"].id, topics["online-grooming"].id, "admin@example.org"
        )
    with site.factory() as session:
        topics = slugs(session)
        assert topics["online-grooming"].parent is None
        assert topics[GRANDCHILD].parent.slug == "online-grooming"
        chosen = {
            s.subscriber.email: [t.slug for t in s.topics]
            for s in session.scalars(select(Subscription))
        }
        assert chosen["parent@example.org"] == ["online-grooming"]


def test_the_topic_tree_is_read_from_the_database(factory) -> None:
    with factory() as session:
        tree = vocabulary.topic_tree(session)
    assert tree["online-grooming"] == "online-abuse" and tree["online-abuse"] is None
