"""Suggestions at the scale of a poll: the same answers as one search per topic, the model kept
until librarians tag something new, and suggestions written in batches, each poll reading only
the placements still waiting for them."""

from __future__ import annotations

import re
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text, update
from test_suggest import learned_examples
from webapp import add_items, entry, placements

from digest.curation import learned, suggest
from digest.curation.keywords import fold
from digest.curation.suggest import (
    KeywordMatcher,
    LearnedModel,
    Suggestion,
    TopicTerms,
    suggest_new_items,
)
from digest.db import transaction
from digest.models import PlacementTopic, SuggestionModel, TopicSource


class OneSearchPerTopic:
    """The matcher as it was: each topic's expression over the title, then the summary."""

    def __init__(self, topics: list[TopicTerms]) -> None:
        self.patterns = []
        for topic in topics:
            phrases = sorted(
                {p.strip().casefold() for p in (*topic.keywords, topic.label) if p.strip()},
                key=len,
                reverse=True,
            )
            if phrases:
                alternation = "|".join(re.escape(p) for p in phrases)
                pattern = re.compile(rf"\b({alternation})\b", re.IGNORECASE)
                self.patterns.append((topic.topic_id, pattern))

    def suggest(self, title: str, summary: str) -> list[Suggestion]:
        found = []
        for topic_id, pattern in self.patterns:
            if match := pattern.search(title):
                found.append(
                    Suggestion(topic_id, 0.9, [f"keyword “{match[1].lower()}” in the title"])
                )
            elif match := pattern.search(summary):
                found.append(
                    Suggestion(topic_id, 0.6, [f"keyword “{match[1].lower()}” in the summary"])
                )
        return found


TOPICS = [
    TopicTerms(1, "Online grooming", ("grooming", "groomed online")),
    TopicTerms(2, "Neglect", ("neglect", "neglected")),
    TopicTerms(3, "Child sexual exploitation", ("cse", "child sexual exploitation", "sexual")),
    TopicTerms(4, "Protección infantil", ("protección", "niños", "straße")),
    TopicTerms(5, "Cymraeg", ("gŵyl", "plant")),
    TopicTerms(6, "儿童保护", ("儿童", "保护")),
    TopicTerms(7, "Emoji", ("🧒 safety", "c++", "e-safety", "co‑operation")),
    TopicTerms(8, "Turkish", ("kız", "istanbul")),
    TopicTerms(9, "Greek", ("σχολείο", "παιδιά")),
    TopicTerms(10, "Empty", ("", "  ")),
]


def said(found: list[Suggestion]) -> list[tuple[int, float, str]]:
    return [(s.topic_id, s.score, s.reason) for s in found]


@pytest.mark.parametrize(
    ("title", "summary"),
    [
        ("Grooming in online games", "Children neglected at home."),
        ("GROOMING", "NEGLECT"),
        ("Dog grooming salons", "Negligence claims"),
        ("Ungrooming and neglectful", "groomed onlineness"),
        ("Child Sexual Exploitation — a review", "CSE and sexual abuse"),
        ("Protección de los NIÑOS", "la Straße, la strasse, la STRASSE"),
        ("Gŵyl y Plant", "GŴYL"),
        ("儿童保护政策", "关于儿童的保护"),
        ("🧒 safety first", "C++ classes and e-safety, co‑operation"),
        ("KIZ çocuk, İSTANBUL", "kiz, ıstanbul, Istanbul"),
        ("ΣΧΟΛΕΊΟ και ΠΑΙΔΙΆ", "σχολείο, παιδιά"),
        ("neglect_of children", "neglect9 neglect’s"),
        ("", ""),
    ],
)
def test_keyword_suggestions_are_those_of_one_search_per_topic(title: str, summary: str) -> None:
    assert said(KeywordMatcher(TOPICS).suggest(title, summary)) == said(
        OneSearchPerTopic(TOPICS).suggest(title, summary)
    )


@pytest.mark.parametrize(
    ("title", "summary", "suggested"),
    [
        ("Gŵyl y Plant", "", [(5, 0.9, "keyword “gŵyl” in the title")]),
        ("Ungrooming", "neglected", [(2, 0.6, "keyword “neglected” in the summary")]),
        # Whole words: Chinese written without spaces matches only where punctuation or a
        # space sets the keyword off (as it always did).
        ("儿童保护政策", "", []),
        ("儿童保护、政策", "", [(6, 0.9, "keyword “儿童保护” in the title")]),
    ],
    ids=[
        "Welsh keyword in the title",
        "part of a word is no keyword, a summary's word is",
        "Chinese run on without a break",
        "Chinese set off by punctuation",
    ],
)
def test_a_few_cases_as_a_librarian_reads_them(
    title: str, summary: str, suggested: list[tuple[int, float, str]]
) -> None:
    assert said(KeywordMatcher(TOPICS).suggest(title, summary)) == suggested


TRICKY = "aAbcdegilnoprstxyzİIıiſsSKKσςΣéÉŵŴßẞ’—-_ .,9儿童🧒"


@settings(max_examples=300, deadline=None)
@given(
    keywords=st.lists(st.text(alphabet=TRICKY, min_size=1, max_size=5), min_size=1, max_size=4),
    title=st.text(alphabet=TRICKY, max_size=30),
    summary=st.text(alphabet=TRICKY, max_size=60),
)
def test_any_text_gets_the_same_suggestions(keywords: list[str], title: str, summary: str) -> None:
    topics = [TopicTerms(1, keywords[0], tuple(keywords[1:])), *TOPICS]
    assert said(KeywordMatcher(topics).suggest(title, summary)) == said(
        OneSearchPerTopic(topics).suggest(title, summary)
    )


def test_every_character_that_matches_ignoring_case_folds_alike() -> None:
    """The automaton may only skip a topic when its expression could not match: every pair
    of characters that IGNORECASE matches must fold to the same text."""
    for code in range(sys.maxunicode + 1):
        if 0xD800 <= code <= 0xDFFF:
            continue
        char = chr(code)
        if char.lower() == char and char.upper() == char and code not in (0x131, 0x17F, 0x345):
            continue
        partners = {char.lower(), char.upper(), char.casefold(), char.title()}
        for partner in [p.casefold() for p in partners if len(p) == 1]:
            if len(partner) == 1 and re.fullmatch(re.escape(partner), char, re.IGNORECASE):
                assert fold(char) == fold(partner), (hex(code), partner)


@pytest.fixture
def trainings(monkeypatch) -> list[int]:
    """Counts the models trained; the process starts with no model of its own."""
    trained: list[int] = []
    real_train = LearnedModel.train

    def counting(*args, **kwargs):
        trained.append(1)
        return real_train(*args, **kwargs)

    monkeypatch.setattr(LearnedModel, "train", counting)
    forget_the_model_in_memory(monkeypatch)
    return trained


def forget_the_model_in_memory(monkeypatch) -> None:
    """As a new process would start: the model only in the database, if anywhere."""
    monkeypatch.setattr(learned.ModelCache, "fingerprint", None)
    monkeypatch.setattr(learned.ModelCache, "model", None)  # both put back afterwards


def test_the_model_is_trained_again_only_when_the_labelled_set_changes(factory, trainings) -> None:
    texts, labels = learned_examples()
    names = {1: "Online grooming", 2: "Neglect"}
    with transaction(factory) as session:
        first = learned.ModelCache.get(session, texts, labels, names)
        assert first is not None and len(trainings) == 1
        same = learned.ModelCache.get(session, list(texts), [set(s) for s in labels], names)
        assert same is first and len(trainings) == 1
        relabelled = [*labels[:-1], {2}]
        assert learned.ModelCache.get(session, texts, relabelled, names) is not first
        assert len(trainings) == 2
        retitled = [*texts[:-1], "A new title"]
        assert learned.ModelCache.get(session, retitled, relabelled, names) is not None
        assert len(trainings) == 3


def test_a_new_process_reads_the_model_another_trained_instead_of_training_again(
    factory, trainings, monkeypatch
) -> None:
    """A one-shot `digest poll` starts with nothing in memory: the model the last poll
    trained is in the database, and gives the same suggestions."""

    texts, labels = learned_examples()
    names = {1: "Online grooming", 2: "Neglect"}
    probe = ["Offenders befriend children through gaming apps", "Hunger and no heating at home"]
    with transaction(factory) as session:
        trained = learned.ModelCache.get(session, texts, labels, names)
    assert trained is not None and len(trainings) == 1

    forget_the_model_in_memory(monkeypatch)
    with transaction(factory) as session:
        read = learned.ModelCache.get(session, texts, labels, names)
    assert len(trainings) == 1
    assert read is not None and read is not trained
    assert read.suggest(probe) == trained.suggest(probe)
    assert [s.topic_id for s in read.suggest(probe)[0]] == [1]

    # Tagging moves the labelled set on: the next process trains, and only the newest model
    # is kept.
    forget_the_model_in_memory(monkeypatch)
    relabelled = [*labels[:-1], {2}]
    with transaction(factory) as session:
        learned.ModelCache.get(session, texts, relabelled, names)
    assert len(trainings) == 2
    with transaction(factory) as session:
        kept = session.scalars(select(SuggestionModel.fingerprint)).all()
    assert kept == [learned.fingerprint(texts, relabelled)]


def test_a_damaged_stored_model_is_trained_again_and_the_poll_goes_on(
    factory, trainings, monkeypatch, caplog
) -> None:
    texts, labels = learned_examples()
    names = {1: "Online grooming", 2: "Neglect"}
    with transaction(factory) as session:
        good = learned.ModelCache.get(session, texts, labels, names)
    assert good is not None
    for damage in [b"not a model", good.to_bytes()[:200], _with_a_topic_too_few(good)]:
        forget_the_model_in_memory(monkeypatch)
        with transaction(factory) as session:
            session.execute(update(SuggestionModel).values(payload=damage))
        with transaction(factory) as session:
            again = learned.ModelCache.get(session, texts, labels, names)
        assert again is not None
        assert [s.topic_id for s in again.suggest(["Offenders befriend children online"])[0]] == [1]
        assert "stored topic model could not be read" in caplog.text
        with factory() as session:
            (stored,) = session.scalars(select(SuggestionModel.payload)).all()
        assert learned.LearnedModel.from_bytes(stored, names).topic_ids == good.topic_ids
    assert len(trainings) == 4


def _with_a_topic_too_few(model: LearnedModel) -> bytes:
    """A payload whose arrays do not fit together: one intercept short."""
    model.intercepts, kept = model.intercepts[:-1], model.intercepts
    try:
        return model.to_bytes()
    finally:
        model.intercepts = kept


def test_renamed_and_retired_topics_need_no_training(factory, trainings) -> None:
    texts, labels = learned_examples()
    probe = ["Offenders befriend children through gaming apps"]
    with transaction(factory) as session:
        learned.ModelCache.get(session, texts, labels, {1: "Online grooming", 2: "Neglect"})
        renamed = learned.ModelCache.get(session, texts, labels, {1: "Grooming", 2: "Neglect"})
        assert renamed is not None
        (found,) = renamed.suggest(probe)
        assert found[0].reason.startswith("like 6 items librarians tagged “Grooming”")
        retired = learned.ModelCache.get(session, texts, labels, {2: "Neglect"})
        assert retired is not None
        assert 1 not in [s.topic_id for s in retired.suggest(probe)[0]]
    assert len(trainings) == 1


def test_too_little_to_learn_from_stores_no_model(factory, trainings) -> None:
    texts, labels = learned_examples()
    with transaction(factory) as session:
        assert learned.ModelCache.get(session, texts[:5], labels[:5], {1: "x", 2: "y"}) is None
    with transaction(factory) as session:
        assert session.scalars(select(SuggestionModel)).all() == []


def test_suggestions_are_written_in_batches_as_before(factory) -> None:
    titles = [
        f"{word} report {n}"
        for n, word in enumerate(["Neglect", "Online grooming", "Annual accounts"] * 5)
    ]
    item_ids = add_items(
        factory, [entry(t, f"https://example.org/r/{n}") for n, t in enumerate(titles)]
    )
    placement_ids = placements(factory, item_ids)
    with transaction(factory) as session:
        assert suggest_new_items(session, batch=4) == 10
        assert suggest_new_items(session, batch=4) == 0
    with factory() as session:
        stored = session.execute(
            select(PlacementTopic.placement_id, PlacementTopic.reason).where(
                PlacementTopic.source == TopicSource.SUGGESTED
            )
        ).all()
    by_placement = {p: r for p, r in stored}
    assert set(by_placement) == {
        p for p, t in zip(placement_ids, titles, strict=True) if "Annual" not in t
    }
    assert by_placement[placement_ids[0]] == "keyword “neglect” in the title"


def test_waiting_placements_are_found_from_their_own_index(sqlite_factory) -> None:
    # The plan is checked on SQLite only: PostgreSQL plans by its statistics.
    with sqlite_factory() as session:
        statement = (
            select(suggest.Placement.id)
            .where(
                suggest.Placement.suggested_at.is_(None),
                suggest.Placement.status == suggest.ItemStatus.NEW,
                suggest.Placement.id > 0,
            )
            .order_by(suggest.Placement.id)
            .limit(10)
        )
        compiled = statement.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
        plan = session.execute(text(f"EXPLAIN QUERY PLAN {compiled}")).all()
    assert any("ix_placements_unsuggested" in str(row) for row in plan), plan
