"""The feed pages for sources that are not feeds: each shows what it is and what it asks, and
the form adds and edits a catalogue, a search or a journal by the config file's rules, keeping
what a source is when it is saved."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from webapp import Site, csrf_token, make_site

from digest.config.schema import FeedConfig
from digest.config.sync import apply_feed
from digest.db import transaction
from digest.ingest.edit import feed_values, save_feed
from digest.models import Feed, Newsletter, Role


@pytest.fixture
def site(factory) -> Site:
    return make_site(factory)


def form(token: str, **changes: object) -> dict[str, object]:
    values = {
        "name": "Koha: new books",
        "type": "oai-pmh",
        "url": "https://library.example.org/cgi-bin/koha/oai.pl",
        "query": "new-books",
        "option_metadata_prefix": "oai_dc",
        "option_from": "2026-11-01",
        "option_record_url": "",
        "newsletter": "new-in-the-library",
        "section": "Books and reports",
        "poll_interval": "1d",
        "enabled": "on",
        "csrf_token": token,
    }
    values.update(changes)
    return values


def add_pubmed(site: Site) -> int:
    spec = FeedConfig(
        name="Neglect in PubMed",
        type="pubmed",
        query="child neglect[tiab] AND Łódź",
        options={"max_results": "200"},
        newsletter="caspar",
        section="Research",
    )
    with transaction(site.factory) as session:
        feed = Feed(name=spec.name, url=spec.url)
        session.add(feed)
        newsletter = session.scalar(select(Newsletter).where(Newsletter.slug == "caspar"))
        apply_feed(feed, spec, newsletter, [])
        session.flush()
        return feed.id


def stored(site: Site, name: str) -> Feed:
    with site.factory() as session:
        return session.scalar(select(Feed).where(Feed.name == name))


def test_add_a_catalogue_and_see_it_on_the_health_page(site: Site) -> None:
    client = site.client(Role.ADMIN)
    response = client.post("/admin/feeds/new", data=form(csrf_token(client, "/admin/feeds")))
    assert response.status_code == 302, response.text
    feed = stored(site, "Koha: new books")
    assert (feed.source_type, feed.source_query, feed.source_options) == (
        "oai-pmh",
        "new-books",
        {"metadata_prefix": "oai_dc", "from": "2026-11-01"},
    )
    page = client.get("/admin/feeds").text
    row = page[page.index(">Koha: new books</a>") :]
    row = row[: row.index("</tr>")]
    assert "Catalogue (OAI-PMH)" in row and "Set: new-books" in row


def test_editing_a_pubmed_search_keeps_what_it_is(site: Site) -> None:
    feed_id = add_pubmed(site)
    client = site.client(Role.ADMIN)
    page = client.get(f"/admin/feeds/{feed_id}/edit").text
    assert '<option value="pubmed" selected>PubMed search</option>' in page
    assert 'value="child neglect[tiab] AND Łódź"' in page

    response = client.post(
        f"/admin/feeds/{feed_id}/edit",
        data=form(
            csrf_token(client, "/admin/feeds"),
            name="Neglect in PubMed",
            type="pubmed",
            url="",
            query="child neglect[tiab]",
            poll_interval="2d",
            newsletter="caspar",
            section="Research",
        ),
    )

    assert response.status_code == 302, response.text
    feed = stored(site, "Neglect in PubMed")
    assert (feed.source_type, feed.source_query, feed.url) == (
        "pubmed",
        "child neglect[tiab]",
        "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/",
    )
    assert feed.source_options == {"max_results": "200"}  # the form does not show them
    assert feed.poll_interval_minutes == 2 * 1440
    assert "PubMed search" in client.get("/admin/feeds").text


def test_values_that_do_not_say_the_type_keep_it(site: Site) -> None:
    feed_id = add_pubmed(site)
    with transaction(site.factory) as session:
        feed = session.get_one(Feed, feed_id)
        values = {k: v for k, v in feed_values(feed).items() if k not in ("type", "query")}
        save_feed(session, {**values, "poll_interval": "3h"}, "admin@digest.test", feed)
    feed = stored(site, "Neglect in PubMed")
    assert (feed.source_type, feed.source_query, feed.poll_interval_minutes) == (
        "pubmed",
        "child neglect[tiab] AND Łódź",
        180,
    )


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        (
            {"type": "crossref", "query": "0952-9137", "url": ""},
            "query",
            "Feed &#39;Koha: new books&#39;: the ISSN &#39;0952-9137&#39; has a wrong check digit",
        ),
        (
            {"url": ""},
            "url",
            "Feed &#39;Koha: new books&#39; has no url: an OAI-PMH catalogue needs its "
            "repository&#39;s base URL",
        ),
        (
            {"option_from": "yesterday"},
            "options",
            "Feed &#39;Koha: new books&#39;: from &#39;yesterday&#39; is not a date",
        ),
    ],
)
def test_a_mistake_is_shown_at_its_field_and_nothing_is_saved(
    site: Site, changes: dict[str, str], field: str, message: str
) -> None:
    client = site.client(Role.ADMIN)
    response = client.post(
        "/admin/feeds/new", data=form(csrf_token(client, "/admin/feeds"), **changes)
    )
    assert response.status_code == 400
    assert f'<span class="field-error" id="{field}-error">{message}' in response.text
    assert stored(site, "Koha: new books") is None
