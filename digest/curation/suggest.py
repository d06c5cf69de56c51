"""Topic suggestions that explain themselves: keyword matches, and what librarians chose before.

Two sources, combined: the topics' keywords from `feeds.yaml` found in an item's title or
summary, and a small text classifier (`learned`) trained on the items librarians tagged by hand.
Suggestions are stored apart from confirmed topics.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, select, update
from sqlalchemy.orm import Session

from digest.bulk import insert_rows
from digest.curation.keywords import KeywordMatcher, Suggestion, TopicTerms
from digest.curation.learned import LearnedModel, ModelCache
from digest.db import one_of
from digest.ingest.sanitize import sanitized_html_to_text
from digest.models import (
    Item,
    ItemStatus,
    Newsletter,
    Placement,
    PlacementTopic,
    Topic,
    TopicSource,
)
from digest.timeutil import utcnow

__all__ = [
    "KeywordMatcher",
    "LearnedModel",
    "SuggestAsStored",
    "Suggester",
    "Suggestion",
    "TopicTerms",
    "build_suggester",
    "suggest_new_items",
]

TOP_N = 3
# The model learns from this many of the newest hand-tagged placements: enough to learn every
# topic in use, and recent, so it follows how the librarians tag now.
TRAINING_WINDOW = 5_000
CHOSEN_ELSEWHERE = 0.95  # the score of a topic chosen for the same item in another newsletter


class Suggester:
    def __init__(self, keywords: KeywordMatcher, learned: LearnedModel | None) -> None:
        self.keywords = keywords
        self.learned = learned

    def suggest(
        self,
        documents: Sequence[tuple[str, str]],
        top_n: int = TOP_N,
    ) -> list[list[Suggestion]]:
        """For each (title, summary), the best `top_n` topics, strongest first."""
        learned = (
            self.learned.suggest([f"{t}\n{s}" for t, s in documents])
            if self.learned
            else [[] for _ in documents]
        )
        results = []
        for (title, summary), extra in zip(documents, learned, strict=True):
            merged: dict[int, Suggestion] = {}
            for suggestion in [*self.keywords.suggest(title, summary), *extra]:
                known = merged.get(suggestion.topic_id)
                if known is None:
                    merged[suggestion.topic_id] = suggestion
                else:
                    known.score = max(known.score, suggestion.score) + 0.1
                    known.reasons += suggestion.reasons
            results.append(sorted(merged.values(), key=lambda s: -s.score)[:top_n])
        return results


def _read(summary_text: str, full_text_html: str | None) -> str:
    """What suggestions read of an item: the feed's whole text where it was kept (a summary
    may be its first sentences only, and a topic's words further on count too), else the
    summary (an item added by hand, or stored before the whole text was kept)."""
    return sanitized_html_to_text(full_text_html) if full_text_html else summary_text


def topic_terms(session: Session) -> list[TopicTerms]:
    return [
        TopicTerms(t.id, t.label, tuple(t.keywords or ()))
        for t in session.scalars(select(Topic).where(~Topic.retired))
    ]


def build_suggester(session: Session) -> Suggester:
    """Keywords as configured, and a model trained on the most recent hand-tagged items (the
    topics any newsletter's librarians chose for them); the model is trained again only when
    that labelled set has changed."""
    terms = topic_terms(session)
    texts, label_sets = _training_set(session)
    labels = {t.topic_id: t.label for t in terms}
    return Suggester(KeywordMatcher(terms), ModelCache.get(session, texts, label_sets, labels))


def _training_set(
    session: Session, window: int = TRAINING_WINDOW
) -> tuple[list[str], list[set[int]]]:
    """The texts and chosen topics of the items of the `window` newest hand-tagged placements.
    Bounded, so that the cost of a poll does not grow with the archive: a library that tags
    everything would otherwise train on millions of items."""
    newest = (
        select(PlacementTopic.placement_id)
        .where(PlacementTopic.source == TopicSource.MANUAL)
        .distinct()
        .order_by(PlacementTopic.placement_id.desc())
        .limit(window)
    )
    chosen: dict[int, set[int]] = {}
    texts: dict[int, str] = {}
    for item_id, title, summary, full_html, topic_id in session.execute(
        select(Item.id, Item.title, Item.summary_text, Item.full_text_html, PlacementTopic.topic_id)
        .join(Placement, Placement.id == PlacementTopic.placement_id)
        .join(Item, Item.id == Placement.item_id)
        .where(
            PlacementTopic.source == TopicSource.MANUAL,
            PlacementTopic.placement_id.in_(newest),
        )
        .order_by(Item.id)
    ):
        chosen.setdefault(item_id, set()).add(topic_id)
        texts.setdefault(item_id, f"{title}\n{_read(summary, full_html)}")
    return list(texts.values()), [chosen[item_id] for item_id in texts]


def _chosen_elsewhere(session: Session, item_ids: list[int]) -> dict[int, list[Suggestion]]:
    """Topics librarians chose for these items in another newsletter: good suggestions."""
    found: dict[int, list[Suggestion]] = {}
    for item_id, topic_id, title in session.execute(
        select(Placement.item_id, PlacementTopic.topic_id, Newsletter.title)
        .join(PlacementTopic.placement)
        .join(Placement.newsletter)
        .where(
            one_of(session, Placement.item_id, item_ids),
            PlacementTopic.source == TopicSource.MANUAL,
        )
    ):
        found.setdefault(item_id, []).append(
            Suggestion(topic_id, CHOSEN_ELSEWHERE, [f"chosen for {title} by a librarian"])
        )
    return found


class SuggestAsStored:
    """Suggestions for each batch a poll stores, in that batch's transaction: the suggester
    is built once for the poll, and the work overlaps the fetching and parsing of later feeds
    instead of following them all."""

    def __init__(self) -> None:
        self.suggester: Suggester | None = None
        self.touched = 0

    def __call__(self, session: Session) -> None:
        if self.suggester is None:
            self.suggester = build_suggester(session)
        self.touched += suggest_new_items(session, self.suggester)


SUGGEST_BATCH = 2000  # placements read, suggested for and written at a time: bounds memory


def suggest_new_items(
    session: Session, suggester: Suggester | None = None, batch: int = SUGGEST_BATCH
) -> int:
    """Store suggestions for items new to a newsletter that have none yet; returns how many
    got some. Works through them in batches of plain rows (no ORM objects), so memory does
    not grow with their number; a partial index finds them without reading the archive."""
    touched = 0
    after = 0
    while True:
        placements = session.execute(
            select(
                Placement.id, Placement.item_id, Item.title, Item.summary_text, Item.full_text_html
            )
            .join(Item, Item.id == Placement.item_id)
            .where(
                Placement.suggested_at.is_(None),
                Placement.status == ItemStatus.NEW,
                Placement.id > after,
            )
            .order_by(Placement.id)
            .limit(batch)
        ).all()
        if not placements:
            return touched
        suggester = suggester or build_suggester(session)
        touched += _suggest_batch(session, suggester, placements)
        after = placements[-1].id


def _suggest_batch(session: Session, suggester: Suggester, placements: Sequence[Row[Any]]) -> int:
    documents = {p.item_id: (p.title, _read(p.summary_text, p.full_text_html)) for p in placements}
    by_item = dict(zip(documents, suggester.suggest(list(documents.values())), strict=True))
    elsewhere = _chosen_elsewhere(session, list(documents))
    ids = [p.id for p in placements]
    present: dict[int, set[int]] = {}
    for placement_id, topic_id in session.execute(
        select(PlacementTopic.placement_id, PlacementTopic.topic_id).where(
            one_of(session, PlacementTopic.placement_id, ids)
        )
    ):
        present.setdefault(placement_id, set()).add(topic_id)
    now = utcnow()
    rows = []
    touched = 0
    for placement in placements:
        known = present.get(placement.id, set())
        new: dict[int, Suggestion] = {}
        for suggestion in [*elsewhere.get(placement.item_id, []), *by_item[placement.item_id]]:
            if suggestion.topic_id not in known:
                new.setdefault(suggestion.topic_id, suggestion)
        rows += [
            {
                "placement_id": placement.id,
                "topic_id": s.topic_id,
                "source": TopicSource.SUGGESTED,
                "added_at": now,
                "reason": s.reason,
                "score": round(s.score, 3),
            }
            for s in new.values()
        ]
        touched += bool(new)
    # Core statements: the ORM's unit of work cost more than the suggestions themselves.
    session.execute(
        update(Placement.__table__)
        .where(one_of(session, Placement.__table__.c.id, ids))
        .values(suggested_at=now)
    )
    if rows:
        insert_rows(session, PlacementTopic.__table__, rows)
    return touched
