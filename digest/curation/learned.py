"""What librarians chose before, learned: one text classifier per topic, kept in the database
until they tag something new.

The classifier reads TF-IDF words and word pairs of an item's title and summary, with one
logistic regression per topic. It is stored as plain arrays, never pickled (the database holds
data, not code), under a fingerprint of the labelled set it learned from: a one-shot
`digest poll` trains only when the tagging has changed since any process last trained.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from digest.curation.keywords import Suggestion
from digest.models import SuggestionModel

if TYPE_CHECKING:
    from numpy import ndarray

LEARNED_THRESHOLD = 0.25
MIN_EXAMPLES = 3  # a topic is learned once librarians have chosen it this many times
MIN_TRAINING_ITEMS = 20
WORDS_SHOWN = 3  # of an item's words that pushed hardest towards a topic, in its reason
# Part of every fingerprint: a stored model made by other settings is never read back.
FORMAT = "tfidf-1-2-english-unicode/logistic-C8-balanced/1"
_VECTORIZER = {
    "sublinear_tf": True,
    "ngram_range": (1, 2),
    "min_df": 1,
    "stop_words": "english",
    "strip_accents": "unicode",
}


def _vectorizer() -> Any:
    # Imported only now: scikit-learn takes over a second to import, and most polls of a new
    # installation have nothing to learn from yet.
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(**_VECTORIZER)


class LearnedModel:
    """Per topic, the weight of each word and its intercept, over one TF-IDF vocabulary."""

    def __init__(
        self,
        vectorizer: Any,
        vocabulary: list[str],
        weights: ndarray,
        intercepts: ndarray,
        examples: dict[int, int],
        labels: dict[int, str],
    ) -> None:
        self.vectorizer = vectorizer
        self.vocabulary = vocabulary  # the words in column order
        self.topic_ids = list(examples)  # in the order of the rows of `weights`
        self.weights = weights
        self.intercepts = intercepts
        self.examples = examples  # how many hand-tagged items each topic was learned from
        self.labels = labels

    @classmethod
    def train(
        cls, texts: Sequence[str], label_sets: Sequence[set[int]], labels: dict[int, str]
    ) -> LearnedModel | None:
        """A model, or None while there are too few hand-tagged items to learn from."""
        if len(texts) < MIN_TRAINING_ITEMS:
            return None
        counts: dict[int, int] = {}
        for chosen in label_sets:
            for topic_id in chosen:
                counts[topic_id] = counts.get(topic_id, 0) + 1
        learnable = [t for t, n in counts.items() if MIN_EXAMPLES <= n < len(texts)]
        if not learnable:
            return None
        import numpy
        from sklearn.linear_model import LogisticRegression
        from threadpoolctl import threadpool_limits

        vectorizer = _vectorizer()
        matrix = vectorizer.fit_transform(texts)
        fitted = []
        # One BLAS thread: the numerical library's own threads spin while they wait, and on a
        # machine busy with a poll (or anything else) training took ten times as long.
        with threadpool_limits(limits=1):
            for topic_id in learnable:
                target = [topic_id in chosen for chosen in label_sets]
                model = LogisticRegression(C=8.0, class_weight="balanced", max_iter=1000)
                fitted.append(model.fit(matrix, target))
        return cls(
            vectorizer,
            list(vectorizer.get_feature_names_out()),
            # Single precision: half the memory and the stored size, and the same suggestions
            # (a probability is shown to the whole per cent).
            numpy.vstack([m.coef_[0] for m in fitted]).astype(numpy.float32),
            numpy.array([m.intercept_[0] for m in fitted], numpy.float32),
            {t: counts[t] for t in learnable},
            labels,
        )

    def suggest(self, texts: Sequence[str]) -> list[list[Suggestion]]:
        if not texts:
            return []
        import numpy

        matrix = self.vectorizer.transform(texts)
        # Every topic's logistic regression at once: one product of the batch's words with
        # all the topics' weights.
        probabilities = 1.0 / (1.0 + numpy.exp(-(matrix @ self.weights.T + self.intercepts)))
        results: list[list[Suggestion]] = [[] for _ in texts]
        for column, topic_id in enumerate(self.topic_ids):
            rows = numpy.flatnonzero(probabilities[:, column] >= LEARNED_THRESHOLD)
            if not len(rows):
                continue
            # Each suggested item's words weighted by how far they count towards the topic:
            # one sparse product for the batch (one per item cost most of a poll's time).
            weights = matrix[rows].multiply(self.weights[column]).tocsr()
            for position, row in enumerate(rows):
                start, end = weights.indptr[position], weights.indptr[position + 1]
                data, columns = weights.data[start:end], weights.indices[start:end]
                # The heaviest first; of equal weights, the first in the vocabulary.
                heaviest = numpy.lexsort((columns, -data))[:WORDS_SHOWN]
                words = [self.vocabulary[columns[i]] for i in heaviest if data[i] > 0]
                probability = float(probabilities[row, column])
                reason = self._explain(words, topic_id, probability)
                results[row].append(Suggestion(topic_id, probability, [reason]))
        return results

    def _explain(self, words: list[str], topic_id: int, probability: float) -> str:
        """Why the topic: the items it was learned from, and the words in this item that
        pushed hardest towards it."""
        said = ", ".join(f"“{w}”" for w in words)
        return (
            f"like {self.examples[topic_id]} items librarians tagged "
            f"“{self.labels[topic_id]}” ({probability:.0%})" + (f": {said}" if said else "")
        )

    def to_bytes(self) -> bytes:
        import numpy

        buffer = io.BytesIO()
        numpy.savez_compressed(
            buffer,
            # Words hold no line breaks (the tokenizer splits on them): one text, not an
            # array of fixed-width strings as wide as the longest word pair.
            vocabulary=numpy.frombuffer("\n".join(self.vocabulary).encode(), numpy.uint8),
            idf=self.vectorizer.idf_,
            topics=numpy.array(self.topic_ids, dtype=numpy.int64),
            examples=numpy.array([self.examples[t] for t in self.topic_ids], numpy.int64),
            weights=self.weights,
            intercepts=self.intercepts,
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, payload: bytes, labels: dict[int, str]) -> LearnedModel:
        import numpy

        with numpy.load(io.BytesIO(payload), allow_pickle=False) as arrays:
            vocabulary = arrays["vocabulary"].tobytes().decode().split("\n")
            vectorizer = _vectorizer()
            vectorizer.vocabulary_ = {word: column for column, word in enumerate(vocabulary)}
            vectorizer.idf_ = arrays["idf"]
            examples = dict(
                zip(arrays["topics"].tolist(), arrays["examples"].tolist(), strict=True)
            )
            return cls(
                vectorizer, vocabulary, arrays["weights"], arrays["intercepts"], examples, labels
            )


def fingerprint(
    texts: Sequence[str], label_sets: Sequence[set[int]], labels: dict[int, str]
) -> str:
    """Names the labelled set: the same texts with the same topics chosen give the same model."""
    digest = hashlib.sha256(FORMAT.encode())
    for text, chosen in zip(texts, label_sets, strict=True):
        digest.update(f"{sorted(chosen)}\x00{text}\x00".encode("utf-8", "surrogatepass"))
    digest.update(repr(sorted(labels.items())).encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


class ModelCache:
    """The model for a labelled set: the one this process last used, else the one stored,
    else trained now and stored (in the caller's transaction) for every process after."""

    fingerprint: str | None = None
    model: LearnedModel | None = None

    @classmethod
    def get(
        cls,
        session: Session,
        texts: list[str],
        label_sets: list[set[int]],
        labels: dict[int, str],
    ) -> LearnedModel | None:
        named = fingerprint(texts, label_sets, labels)
        if named != cls.fingerprint:
            cls.model = _stored(session, named, labels) or _trained(
                session, named, texts, label_sets, labels
            )
            cls.fingerprint = named
        return cls.model


def _stored(session: Session, named: str, labels: dict[int, str]) -> LearnedModel | None:
    payload = session.scalar(
        select(SuggestionModel.payload).where(SuggestionModel.fingerprint == named)
    )
    return LearnedModel.from_bytes(payload, labels) if payload is not None else None


def _trained(
    session: Session,
    named: str,
    texts: list[str],
    label_sets: list[set[int]],
    labels: dict[int, str],
) -> LearnedModel | None:
    model = LearnedModel.train(texts, label_sets, labels)
    if model is None:
        return None  # too little to learn from: deciding that again costs nothing
    # One model is kept: the labelled set only moves on. Two processes that trained on the
    # same set at once store it once.
    session.execute(delete(SuggestionModel).where(SuggestionModel.fingerprint != named))
    insert = postgres_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(
        insert(SuggestionModel)
        .values(fingerprint=named, items=len(texts), payload=model.to_bytes())
        .on_conflict_do_nothing(index_elements=[SuggestionModel.fingerprint])
    )
    return model
