"""Admin pages: add, edit and delete feeds with the config file's checks, import OPML, and
topics; what cannot be taken back asks first, naming the consequence with numbers."""

from __future__ import annotations

import io
import re

import pytest
from delivery_helpers import add_subscribers
from sqlalchemy import delete, func, select
from webapp import Site, add_items, csrf_token, entry, make_site, placements

from digest.curation import decisions
from digest.db import transaction
from digest.models import (
    AuditEntry,
    Feed,
    FeedTopic,
    Item,
    Placement,
    PlacementTopic,
    Role,
    Subscriber,
    Subscription,
    SubscriptionTopic,
    Topic,
)

OPML = b"""<?xml version="1.0"?><opml version="2.0"><head><title>x</title></head><body>
<outline type="rss" text="Ofsted news" xmlUrl="https://www.gov.uk/government/organisations/ofsted.atom"/>
</body></opml>"""


@pytest.fixture
def site(factory) -> Site:
    return make_site(factory)


def feed_form(token: str, **changes: object) -> dict[str, object]:
    form = {
        "name": "Ofsted (GOV.UK)",
        "url": "https://www.gov.uk/government/organisations/ofsted.atom",
        "newsletter": "caspar",
        "section": "Policy",
        "topics": ["neglect"],
        "poll_interval": "2h",
        "enabled": "on",
        "csrf_token": token,
    }
    form.update(changes)
    return form


def test_add_a_feed_then_edit_it(site: Site) -> None:
    client = site.client(Role.ADMIN)
    token = csrf_token(client, "/")
    response = client.post("/admin/feeds/new", data=feed_form(token))
    assert response.status_code == 302
    with site.factory() as session:
        feed = session.scalar(select(Feed).where(Feed.name == "Ofsted (GOV.UK)"))
        assert (feed.section.name, feed.poll_interval_minutes, [t.slug for t in feed.topics]) == (
            "Policy",
            120,
            ["neglect"],
        )
        feed_id = feed.id
    client.post(
        f"/admin/feeds/{feed_id}/edit", data=feed_form(token, section="News", poll_interval="1d")
    )
    with site.factory() as session:
        feed = session.get(Feed, feed_id)
        assert (feed.section.name, feed.poll_interval_minutes) == ("News", 1440)
    assert "feed.edit" in client.get("/admin/audit").text


def test_feed_form_mistakes_are_named_and_nothing_is_saved(site: Site) -> None:
    client = site.client(Role.ADMIN)
    token = csrf_token(client, "/")
    response = client.post(
        "/admin/feeds/new",
        data=feed_form(
            token,
            url="ftp://example.org/feed",
            section="Gossip",
            poll_interval="often",
            topics=["neglect", "no-such-topic"],
        ),
    )
    assert response.status_code == 400
    page = response.text
    assert "only http, https or a local file path can be polled" in page
    assert "is not a duration such as 30m, 2h or 1d" in page
    response = client.post(
        "/admin/feeds/new", data=feed_form(token, section="Gossip", topics=["no-such-topic"])
    )
    assert "newsletter &#39;caspar&#39; has no section &#39;Gossip&#39;" in response.text
    assert "unknown topic no-such-topic" in response.text
    with site.factory() as session:
        assert session.scalars(select(Feed)).all() == []


def test_import_opml_from_the_feeds_page(site: Site) -> None:
    client = site.client(Role.ADMIN)
    response = client.post(
        "/admin/feeds/import-opml",
        data={
            "opml": (io.BytesIO(OPML), "reader.opml"),
            "newsletter": "caspar",
            "section": "News",
            "csrf_token": csrf_token(client, "/"),
        },
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert "Imported reader.opml: 1 feed added, 0 updated." in response.text
    assert "Ofsted news" in response.text


def test_topics_add_rename_retire_and_merge(site: Site) -> None:
    client = site.client(Role.ADMIN)
    token = csrf_token(client, "/")
    client.post(
        "/admin/topics",
        data={
            "slug": "sextortion",
            "label": "Sextortion",
            "keywords": "sextortion, sexual extortion",
            "csrf_token": token,
        },
    )
    bad = client.post("/admin/topics", data={"slug": "Bad Slug", "label": "x", "csrf_token": token})
    assert bad.status_code == 400 and "is not a slug" in bad.text
    ids = add_items(
        site.factory,
        [
            entry("Sextortion cases rise", "https://example.org/s"),
            entry("Blackmail online", "https://example.org/b"),
        ],
    )
    chosen = placements(site.factory, ids)
    with transaction(site.factory) as session:
        topics = {t.slug: t.id for t in session.scalars(select(Topic))}
        decisions.set_topics(session, chosen, [topics["sextortion"]], "librarian")
        decisions.set_topics(
            session, chosen[1:], [topics["online-abuse"]], "librarian", replace=False
        )
        session.add(
            FeedTopic(feed_id=session.scalar(select(Feed.id)), topic_id=topics["sextortion"])
        )
    client.post(
        f"/admin/topics/{topics['sextortion']}",
        data={"action": "rename", "label": "Sextortion (sexual extortion)", "csrf_token": token},
    )
    client.post(
        f"/admin/topics/{topics['neglect']}",
        data={"action": "retire", "confirmed": "yes", "csrf_token": token},
    )
    merged = client.post(
        f"/admin/topics/{topics['sextortion']}",
        data={
            "action": "merge",
            "into": topics["online-abuse"],
            "confirmed": "yes",
            "csrf_token": token,
        },
        follow_redirects=True,
    )
    assert (
        "Merged “Sextortion (sexual extortion)” into “Online abuse”: 2 items, 1 feed and "
        "0 subscriptions now carry “Online abuse”." in merged.text
    )
    with site.factory() as session:
        assert session.get(Topic, topics["sextortion"]) is None
        assert session.get(Topic, topics["neglect"]).retired
        for placement in session.scalars(select(Placement)):
            assert [link.topic.slug for link in placement.topic_links] == ["online-abuse"]
        assert session.scalars(select(FeedTopic.topic_id)).all() == [topics["online-abuse"]]
        assert (
            session.scalar(
                select(PlacementTopic.topic_id).where(
                    PlacementTopic.topic_id == topics["sextortion"]
                )
            )
            is None
        )
    # A retired topic is no longer offered for tagging.
    librarian = site.client(Role.LIBRARIAN)
    assert '<option value="Neglect">' not in librarian.get("/items").text
    audit = client.get("/admin/audit?object=topic").text
    for action in ("topic.add", "topic.rename", "topic.retire", "topic.merge"):
        assert action in audit


def test_feed_health_shows_items_this_week(site: Site) -> None:
    add_items(
        site.factory, [entry("One", "https://example.org/1"), entry("Two", "https://example.org/2")]
    )
    page = site.client(Role.ADMIN).get("/admin/feeds").text
    assert "<td>2 (2)</td>" in page


def _tag(site: Site, slug: str, titles: list[str], subscribers: int = 0) -> dict[str, int]:
    """Items with these titles tagged `slug`, and `subscribers` subscriptions choosing only
    it; every topic's id by slug."""
    ids = add_items(
        site.factory, [entry(t, f"https://example.org/{n}") for n, t in enumerate(titles)]
    )
    emails = add_subscribers(site.factory, subscribers) if subscribers else []
    with transaction(site.factory) as session:
        topics = {t.slug: t.id for t in session.scalars(select(Topic))}
        decisions.set_topics(session, placements(site.factory, ids), [topics[slug]], "librarian")
        chosen = session.scalars(
            select(Subscription.id).join(Subscriber).where(Subscriber.email.in_(emails))
        ).all()
        session.execute(delete(SubscriptionTopic))
        for subscription_id in chosen:
            session.add(SubscriptionTopic(subscription_id=subscription_id, topic_id=topics[slug]))
    return topics


def _post_topic(client, topic_id: int, **data: object):
    token = csrf_token(client, "/admin/topics")
    return client.post(f"/admin/topics/{topic_id}", data={**data, "csrf_token": token})


@pytest.mark.parametrize(
    ("items", "subscribers", "says"),
    [
        (2, 3, "2 items and 3 subscriptions move to “Online abuse”; “Neglect” is removed."),
        (1, 1, "1 item and 1 subscription move to “Online abuse”; “Neglect” is removed."),
        (0, 0, "0 items and 0 subscriptions move to “Online abuse”; “Neglect” is removed."),
    ],
    ids=["plural", "singular", "none"],
)
def test_merging_asks_first_naming_what_moves_and_changes_nothing(
    site: Site, items: int, subscribers: int, says: str
) -> None:
    topics = _tag(site, "neglect", [f"Neglect {n}" for n in range(items)], subscribers)
    asked = _post_topic(
        site.client(Role.ADMIN), topics["neglect"], action="merge", into=topics["online-abuse"]
    )
    assert asked.status_code == 200
    assert "Merge “Neglect” into “Online abuse”?</h1>" in asked.text
    assert says in asked.text
    with site.factory() as session:
        assert session.get(Topic, topics["neglect"]) is not None
        merges = select(func.count()).where(AuditEntry.action == "topic.merge")
        assert session.scalar(merges) == 0


def test_merging_acts_when_confirmed(site: Site) -> None:
    topics = _tag(site, "neglect", ["Neglect at home", "Neglect at school"], 2)
    done = _post_topic(
        site.client(Role.ADMIN),
        topics["neglect"],
        action="merge",
        into=topics["online-abuse"],
        confirmed="yes",
    )
    assert done.status_code == 302
    with site.factory() as session:
        assert session.get(Topic, topics["neglect"]) is None
        assert (
            session.scalars(select(SubscriptionTopic.topic_id)).all()
            == [topics["online-abuse"]] * 2
        )


def test_the_merge_list_starts_on_no_topic_and_merging_into_none_says_so(site: Site) -> None:
    client = site.client(Role.ADMIN)
    page = client.get("/admin/topics").text
    lists = re.findall(r'<select name="into"[^>]*>(.*?)</select>', page)
    assert lists and all('<option value="" selected>Choose a topic…</option>' in s for s in lists)
    assert all(s.count("selected") == 1 for s in lists)
    topics = _tag(site, "neglect", ["Neglect"])
    refused = _post_topic(client, topics["neglect"], action="merge", into="")
    assert refused.status_code == 302
    shown = client.get("/admin/topics").text
    assert "Not merged: choose the topic to merge “Neglect” into." in shown
    itself = _post_topic(client, topics["neglect"], action="merge", into=topics["neglect"])
    assert itself.status_code == 302
    assert "cannot be merged into itself" in client.get("/admin/topics").text
    with site.factory() as session:
        assert session.get(Topic, topics["neglect"]) is not None


def test_retiring_asks_first_naming_what_keeps_the_topic(site: Site) -> None:
    topics = _tag(site, "neglect", ["Neglect"], 2)
    client = site.client(Role.ADMIN)
    asked = _post_topic(client, topics["neglect"], action="retire")
    assert "Retire “Neglect”?</h1>" in asked.text
    assert "It stays on what carries it (1 item and 2 subscriptions)" in asked.text
    assert "It can be restored from the topics page." in asked.text
    with site.factory() as session:
        assert not session.get(Topic, topics["neglect"]).retired
    _post_topic(client, topics["neglect"], action="retire", confirmed="yes")
    with site.factory() as session:
        assert session.get(Topic, topics["neglect"]).retired
    restored = _post_topic(client, topics["neglect"], action="restore")  # asks nothing
    assert restored.status_code == 302


def test_add_feed_reports_every_problem_at_once_beside_its_field(site: Site) -> None:
    client = site.client(Role.ADMIN)
    add_items(site.factory, [entry("One", "https://example.org/1")])  # makes "Test feed"
    response = client.post(
        "/admin/feeds/new",
        data=feed_form(
            csrf_token(client, "/"),
            name="Test feed",
            url="ftp://example.org/feed",
            section="Gossip",
            poll_interval="often",
            topics=["no-such-topic"],
        ),
    )
    assert response.status_code == 400
    page = response.text
    assert "Not saved: 5 things need correcting." in page
    for field in ("name", "url", "section", "topics", "poll_interval"):
        assert f'id="feed-{field}" ' in page and f'aria-describedby="{field}-error"' in page
        assert f'<span class="field-error" id="{field}-error">' in page
    assert "There is already a feed named &#39;Test feed&#39;." in page
    assert 'value="ftp://example.org/feed"' in page and 'value="often"' in page  # kept


def _feed_with_items(site: Site, count: int) -> int:
    add_items(
        site.factory,
        [entry(f"Item {n}", f"https://example.org/{n}") for n in range(count)],
        "Ofsted — “news” ’é",
    )
    with site.factory() as session:
        return session.scalar(select(Feed.id).where(Feed.name == "Ofsted — “news” ’é"))


@pytest.mark.parametrize(
    ("count", "says"),
    [(3, "Its 3 items stay, with their topics and editions."), (1, "Its 1 item stays")],
    ids=["plural", "singular"],
)
def test_deleting_a_feed_asks_first_naming_its_items(site: Site, count: int, says: str) -> None:
    feed_id = _feed_with_items(site, count)
    client = site.client(Role.ADMIN)
    token = csrf_token(client, "/admin/feeds")
    asked = client.post(f"/admin/feeds/{feed_id}/delete", data={"csrf_token": token})
    assert asked.status_code == 200
    assert "Delete the feed “Ofsted — “news” ’é”?</h1>" in asked.text and says in asked.text
    with site.factory() as session:
        assert session.get(Feed, feed_id) is not None


def test_a_deleted_feed_s_items_stay_with_their_topics_and_source_name(site: Site) -> None:
    feed_id = _feed_with_items(site, 2)
    shared = add_items(site.factory, [entry("Item 0", "https://example.org/0")], "Other feed")
    with transaction(site.factory) as session:
        topic = session.scalar(select(Topic.id).where(Topic.slug == "neglect"))
        ids = session.scalars(select(Item.id).order_by(Item.id)).all()
        decisions.set_topics(session, placements(site.factory, ids), [topic], "librarian")
    client = site.client(Role.ADMIN)
    token = csrf_token(client, "/admin/feeds")
    done = client.post(
        f"/admin/feeds/{feed_id}/delete",
        data={"csrf_token": token, "confirmed": "yes"},
        follow_redirects=True,
    )
    assert "Deleted the feed “Ofsted — “news” ’é”; its 2 items stay." in done.text
    with site.factory() as session:
        assert session.get(Feed, feed_id) is None
        items = {i.id: i for i in session.scalars(select(Item))}
        assert len(items) == 2
        assert all(len(i.placements[0].topic_links) == 1 for i in items.values())
        # Found only there: the feed's name is kept as its source; found elsewhere too: that
        # other feed names it.
        only_here = next(i for i in items.values() if i.id not in shared)
        assert only_here.publisher == "Ofsted — “news” ’é"
        assert items[shared[0]].publisher is None
        assert [s.feed.name for s in items[shared[0]].sources] == ["Other feed"]
        entry_ = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
        assert (entry_.action, entry_.before["items"]) == ("feed.delete", 2)
