"""Topic suggestions: keywords found, topics learned from librarians, reasons shown."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from webapp import STAFF, add_items, csrf_token, entry, make_site, placements

from digest.curation import decisions
from digest.curation.suggest import (
    KeywordMatcher,
    LearnedModel,
    Suggester,
    TopicTerms,
    _training_set,
    suggest_new_items,
)
from digest.db import transaction
from digest.ingest.parse import parse_feed
from digest.models import Item, Placement, PlacementTopic, Role, Topic, TopicSource

GROOMING = TopicTerms(1, "Online grooming", ("grooming", "groomed online"))
NEGLECT = TopicTerms(2, "Neglect", ("neglect", "neglected"))


def test_keywords_are_whole_words_and_say_where_they_were_found() -> None:
    matcher = KeywordMatcher([GROOMING, NEGLECT])
    found = matcher.suggest("Grooming in online games", "Children neglected at home.")
    assert [(s.topic_id, s.reason) for s in found] == [
        (1, "keyword “grooming” in the title"),
        (2, "keyword “neglected” in the summary"),
    ]
    assert matcher.suggest("Dog grooming salons", "")[0].topic_id == 1  # keywords are blunt
    assert matcher.suggest("Negligence claims", "") == []


def learned_examples() -> tuple[list[str], list[set[int]]]:
    grooming = [
        "Offenders befriend children on social media before abuse",
        "Predators build trust with young people through messaging apps",
        "Adults pose as teenagers in chat rooms to befriend children",
        "Sexual predators contact children through gaming platforms",
        "Building a relationship with a child online to exploit them",
        "Messaging apps used by offenders to befriend and manipulate children",
    ]
    neglect = [
        "Children left without food, heating or supervision at home",
        "Unmet basic needs and poor home conditions in early childhood",
        "Parents failing to provide adequate food and clothing",
        "Dirty homes and missed medical appointments signal unmet needs",
        "Chronic failure to meet a child's basic physical needs",
        "Home conditions, hunger and lack of supervision in families",
    ]
    other = [f"Annual accounts of the charity for year {n}" for n in range(10)]
    texts = grooming + neglect + other
    labels = [{1}] * len(grooming) + [{2}] * len(neglect) + [set()] * len(other)
    return texts, labels


def test_learned_topics_come_with_the_words_that_led_to_them() -> None:
    texts, labels = learned_examples()
    model = LearnedModel.train(texts, labels, {1: "Online grooming", 2: "Neglect"})
    assert model is not None
    (suggestions,) = model.suggest(["Offenders befriend children through gaming apps"])
    assert suggestions[0].topic_id == 1
    assert suggestions[0].reason.startswith("like 6 items librarians tagged “Online grooming”")
    assert "“befriend”" in suggestions[0].reason or "“offenders”" in suggestions[0].reason
    combined = Suggester(KeywordMatcher([GROOMING, NEGLECT]), model).suggest(
        [("Hunger and poor home conditions", "No supervision at home.")]
    )
    assert combined[0][0].topic_id == 2


def test_too_few_tagged_items_learn_nothing() -> None:
    texts, labels = learned_examples()
    assert LearnedModel.train(texts[:5], labels[:5], {1: "x", 2: "y"}) is None


def test_suggestions_are_stored_apart_and_confirmed_in_one_click(factory) -> None:
    site = make_site(factory)
    (item_id,) = add_items(
        factory,
        [
            entry(
                "Online grooming on gaming platforms",
                "https://example.org/g",
                "<p>How it happens.</p>",
            )
        ],
    )
    (placement_id,) = placements(factory, [item_id])
    with transaction(factory) as session:
        assert suggest_new_items(session) == 1
        assert suggest_new_items(session) == 0  # each new item is looked at once
    with factory() as session:
        topic_id = session.scalar(select(Topic.id).where(Topic.slug == "online-grooming"))
        link = session.get(PlacementTopic, (placement_id, topic_id))
        assert (link.source, link.reason) == (
            TopicSource.SUGGESTED,
            "keyword “online grooming” in the title",
        )
    client = site.client(Role.LIBRARIAN)
    row = client.get("/items").text
    assert "keyword “online grooming” in the title" in row
    response = client.post(
        f"/placements/{placement_id}/suggestions/{topic_id}/confirm",
        data={"csrf_token": csrf_token(client, "/")},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200 and "Confirm Online grooming" not in response.text
    with factory() as session:
        link = session.get(PlacementTopic, (placement_id, topic_id))
        assert (link.source, link.added_by) == (TopicSource.MANUAL, STAFF[Role.LIBRARIAN])
        assert link.reason == "keyword “online grooming” in the title"
    with transaction(factory) as session, pytest.raises(decisions.DecisionError):
        decisions.confirm_suggestion(session, placement_id, topic_id, "again")


def test_a_topics_words_past_the_summarys_cut_are_read_too(factory) -> None:
    """The email's summary is the feed's first sentences; suggestions read the whole text."""
    opening = " ".join(f"Sentence {n} is about practice in schools and homes." for n in range(8))
    feed = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>'
        "<item><title>A briefing for practitioners</title><link>https://example.org/b</link>"
        f"<description>&lt;p&gt;{opening} Later on it turns to online grooming.&lt;/p&gt;"
        "</description></item></channel></rss>"
    )
    parsed = parse_feed(feed.encode(), {}, "https://example.org/feed.xml")
    (item_id,) = add_items(factory, parsed.entries)
    (placement_id,) = placements(factory, [item_id])
    with factory() as session:
        assert "grooming" not in session.get(Item, item_id).summary_text  # cut before it
    with transaction(factory) as session:
        assert suggest_new_items(session) == 1
    with factory() as session:
        topic_id = session.scalar(select(Topic.id).where(Topic.slug == "online-grooming"))
        assert session.get(PlacementTopic, (placement_id, topic_id)) is not None


def test_dismissed_suggestion_goes(factory) -> None:
    (item_id,) = add_items(factory, [entry("Neglect of teenagers", "https://example.org/n")])
    (placement_id,) = placements(factory, [item_id])
    with transaction(factory) as session:
        suggest_new_items(session)
        topic_id = session.scalar(select(Topic.id).where(Topic.slug == "neglect"))
        decisions.dismiss_suggestion(session, placement_id, topic_id, "librarian")
    with factory() as session:
        assert session.get(Placement, placement_id).topic_links == []


def test_the_model_learns_from_the_newest_hand_tagged_items_only(factory) -> None:
    """A library that tags everything must not train on its whole archive at every poll."""
    item_ids = add_items(
        factory,
        [entry(f"Report {n} on neglect", f"https://example.org/r/{n}") for n in range(6)],
    )
    with transaction(factory) as session:
        neglect = session.scalar(select(Topic.id).where(Topic.slug == "neglect"))
        grooming = session.scalar(select(Topic.id).where(Topic.slug == "online-grooming"))
        for n, placement_id in enumerate(placements(factory, item_ids)):
            chosen = [neglect, grooming] if n == 5 else [neglect]
            session.add_all(
                PlacementTopic(placement_id=placement_id, topic_id=t, source=TopicSource.MANUAL)
                for t in chosen
            )
        session.add(  # a suggestion is not a choice: never learned from
            PlacementTopic(
                placement_id=placements(factory, item_ids)[4],
                topic_id=grooming,
                source=TopicSource.SUGGESTED,
            )
        )
    with factory() as session:
        texts, label_sets = _training_set(session, window=3)
    assert [text.split("\n")[0] for text in texts] == [
        "Report 3 on neglect",
        "Report 4 on neglect",
        "Report 5 on neglect",
    ]
    assert label_sets == [{neglect}, {neglect}, {neglect, grooming}]
