"""Admin pages: add and edit feeds with the config file's checks, import OPML, and topics."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import select
from webapp import Site, add_items, csrf_token, entry, make_site, placements

from digest.curation import decisions
from digest.db import transaction
from digest.models import Feed, FeedTopic, Placement, PlacementTopic, Role, Topic

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
