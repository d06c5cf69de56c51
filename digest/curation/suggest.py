"""Topic suggestions that explain themselves: keyword matches, and what librarians chose before.

Two sources, combined: the topics' keywords from `feeds.yaml` found in an item's title or
summary, and a small text classifier (TF-IDF and one logistic regression per topic) trained on
the items librarians tagged by hand. Suggestions are stored apart from confirmed topics.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, selectinload

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

TOP_N = 3
LEARNED_THRESHOLD = 0.25
MIN_EXAMPLES = 3  # a topic is learned once librarians have chosen it this many times
MIN_TRAINING_ITEMS = 20
CHOSEN_ELSEWHERE = 0.95  # the score of a topic chosen for the same item in another newsletter


@dataclass(frozen=True)
class TopicTerms:
    topic_id: int
    label: str
    keywords: tuple[str, ...]


@dataclass
class Suggestion:
    topic_id: int
    score: float
    reasons: list[str] = field(default_factory=list)

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)


class KeywordMatcher:
    """Finds each topic's keywords (and its label) as whole words in title and summary."""

    def __init__(self, topics: Sequence[TopicTerms]) -> None:
        self._patterns = []
        for topic in topics:
            phrases = sorted(
                {p.strip().casefold() for p in (*topic.keywords, topic.label) if p.strip()},
                key=len,
                reverse=True,
            )
            if phrases:
                pattern = re.compile(
                    r"\b(" + "|".join(re.escape(p) for p in phrases) + r")\b", re.IGNORECASE
                )
                self._patterns.append((topic.topic_id, pattern))

    def suggest(self, title: str, summary: str) -> list[Suggestion]:
        found = []
        for topic_id, pattern in self._patterns:
            if match := pattern.search(title):
                found.append(
                    Suggestion(topic_id, 0.9, [f"keyword “{match[1].lower()}” in the title"])
                )
            elif match := pattern.search(summary):
                found.append(
                    Suggestion(topic_id, 0.6, [f"keyword “{match[1].lower()}” in the summary"])
                )
        return found


class LearnedModel:
    """One classifier per topic over TF-IDF words and word pairs of title and summary."""

    def __init__(
        self,
        vectorizer: Any,
        classifiers: dict[int, Any],
        examples: dict[int, int],
        labels: dict[int, str],
    ) -> None:
        self.vectorizer = vectorizer
        self.classifiers = classifiers
        self.examples = examples
        self.labels = labels
        self._vocabulary = vectorizer.get_feature_names_out()

    @classmethod
    def train(
        cls, texts: Sequence[str], label_sets: Sequence[set[int]], labels: dict[int, str]
    ) -> LearnedModel | None:
        """A model, or None while there are too few hand-tagged items to learn from."""
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        if len(texts) < MIN_TRAINING_ITEMS:
            return None
        counts: dict[int, int] = {}
        for chosen in label_sets:
            for topic_id in chosen:
                counts[topic_id] = counts.get(topic_id, 0) + 1
        learnable = [t for t, n in counts.items() if MIN_EXAMPLES <= n < len(texts)]
        if not learnable:
            return None
        vectorizer = TfidfVectorizer(
            sublinear_tf=True,
            ngram_range=(1, 2),
            min_df=1,
            stop_words="english",
            strip_accents="unicode",
        )
        matrix = vectorizer.fit_transform(texts)
        classifiers = {}
        for topic_id in learnable:
            target = [topic_id in chosen for chosen in label_sets]
            model = LogisticRegression(C=8.0, class_weight="balanced", max_iter=1000)
            classifiers[topic_id] = model.fit(matrix, target)
        return cls(vectorizer, classifiers, {t: counts[t] for t in learnable}, labels)

    def suggest(self, texts: Sequence[str]) -> list[list[Suggestion]]:
        if not texts:
            return []
        matrix = self.vectorizer.transform(texts)
        results: list[list[Suggestion]] = [[] for _ in texts]
        for topic_id, model in self.classifiers.items():
            probabilities = model.predict_proba(matrix)[:, 1]
            for row, probability in enumerate(probabilities):
                if probability >= LEARNED_THRESHOLD:
                    results[row].append(
                        Suggestion(
                            topic_id,
                            float(probability),
                            [self._explain(matrix[row], model, topic_id, probability)],
                        )
                    )
        return results

    def _explain(self, vector: Any, model: Any, topic_id: int, probability: float) -> str:
        """Name the words in this item that pushed hardest towards the topic."""
        weights = vector.multiply(model.coef_[0]).tocsr()
        order = weights.data.argsort()[::-1][:3]
        words = [self._vocabulary[weights.indices[i]] for i in order if weights.data[i] > 0]
        said = ", ".join(f"“{w}”" for w in words)
        return (
            f"like {self.examples[topic_id]} items librarians tagged "
            f"“{self.labels[topic_id]}” ({probability:.0%})" + (f": {said}" if said else "")
        )


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


def topic_terms(session: Session) -> list[TopicTerms]:
    return [
        TopicTerms(t.id, t.label, tuple(t.keywords or ()))
        for t in session.scalars(select(Topic).where(~Topic.retired))
    ]


def build_suggester(session: Session) -> Suggester:
    """Keywords as configured, and a model trained on every hand-tagged item so far (the
    topics any newsletter's librarians chose for it)."""
    terms = topic_terms(session)
    chosen: dict[int, set[int]] = {}
    for item_id, topic_id in session.execute(
        select(Placement.item_id, PlacementTopic.topic_id)
        .join(PlacementTopic.placement)
        .where(PlacementTopic.source == TopicSource.MANUAL)
    ):
        chosen.setdefault(item_id, set()).add(topic_id)
    tagged = session.execute(
        select(Item.id, Item.title, Item.summary_text).where(Item.id.in_(list(chosen)))
    ).all()
    texts = [f"{title}\n{summary}" for _, title, summary in tagged]
    label_sets = [chosen[item_id] for item_id, _, _ in tagged]
    labels = {t.topic_id: t.label for t in terms}
    return Suggester(KeywordMatcher(terms), LearnedModel.train(texts, label_sets, labels))


def _chosen_elsewhere(session: Session, item_ids: list[int]) -> dict[int, list[Suggestion]]:
    """Topics librarians chose for these items in another newsletter: good suggestions."""
    found: dict[int, list[Suggestion]] = {}
    for item_id, topic_id, title in session.execute(
        select(Placement.item_id, PlacementTopic.topic_id, Newsletter.title)
        .join(PlacementTopic.placement)
        .join(Placement.newsletter)
        .where(Placement.item_id.in_(item_ids), PlacementTopic.source == TopicSource.MANUAL)
    ):
        found.setdefault(item_id, []).append(
            Suggestion(topic_id, CHOSEN_ELSEWHERE, [f"chosen for {title} by a librarian"])
        )
    return found


def suggest_new_items(session: Session, suggester: Suggester | None = None) -> int:
    """Store suggestions for items new to a newsletter that have none yet; returns how many
    got some."""
    placements = session.scalars(
        select(Placement)
        .where(Placement.status == ItemStatus.NEW, Placement.suggested_at.is_(None))
        .options(selectinload(Placement.item), selectinload(Placement.topic_links))
    ).all()
    if not placements:
        return 0
    suggester = suggester or build_suggester(session)
    items = {p.item_id: p.item for p in placements}
    documents = [(item.title, item.summary_text) for item in items.values()]
    by_item = dict(zip(items, suggester.suggest(documents), strict=True))
    elsewhere = _chosen_elsewhere(session, list(items))
    now = utcnow()
    rows = []
    touched = 0
    for placement in placements:
        placement.suggested_at = now
        present = {link.topic_id for link in placement.topic_links}
        new = {}
        for suggestion in [*elsewhere.get(placement.item_id, []), *by_item[placement.item_id]]:
            if suggestion.topic_id not in present:
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
    session.flush()
    if rows:
        session.execute(insert(PlacementTopic.__table__), rows)
    return touched
