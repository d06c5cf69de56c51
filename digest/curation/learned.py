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
import logging
import zipfile
import zlib
from collections.abc import Sequence
from functools import cache
from importlib.metadata import version
from typing import TYPE_CHECKING

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from digest import wording
from digest.curation.keywords import Suggestion
from digest.curation.words import Rows, Vectors
from digest.db import insert_for
from digest.models import SuggestionModel

if TYPE_CHECKING:
    from numpy import ndarray

log = logging.getLogger(__name__)

LEARNED_THRESHOLD = 0.25
MIN_EXAMPLES = 3  # a topic is learned once librarians have chosen it this many times
MIN_TRAINING_ITEMS = 20
WORDS_SHOWN = 3  # of an item's words that pushed hardest towards a topic, in its reason
CHUNK = 1_000  # texts whose words are weighed at once: bounds the memory of a large batch
_VECTORIZER = {
    "sublinear_tf": True,
    "ngram_range": (1, 2),
    "min_df": 1,
    "stop_words": "english",
    "strip_accents": "unicode",
}
_REGRESSION = {"C": 8.0, "class_weight": "balanced", "max_iter": 1000}


@cache
def _format() -> str:
    """Part of every fingerprint: a model made by other settings, or by another version of the
    library that trains it, is never read back."""
    settings = (_VECTORIZER, _REGRESSION, MIN_EXAMPLES, MIN_TRAINING_ITEMS)
    return repr((3, *settings, version("scikit-learn")))


class LearnedModel:
    """Per topic, the weight of each word and its intercept, over one TF-IDF vocabulary."""

    def __init__(
        self,
        vectors: Vectors,
        weights: ndarray,
        intercepts: ndarray,
        examples: dict[int, int],
        labels: dict[int, str],
    ) -> None:
        self.vectors = vectors
        self.topic_ids = list(examples)  # in the order of the rows of `weights`
        self.weights = weights
        self.intercepts = intercepts
        self.examples = examples  # how many hand-tagged items each topic was learned from
        self.labels = labels  # the topics in use now: a retired one is not suggested

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
        # Imported only now: scikit-learn takes over a second to import, and is needed only
        # when the librarians' tagging has changed.
        import numpy
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from threadpoolctl import threadpool_limits

        vectorizer = TfidfVectorizer(**_VECTORIZER)
        matrix = vectorizer.fit_transform(texts)
        fitted = []
        # One BLAS thread: the numerical library's own threads spin while they wait, and on a
        # machine busy with a poll (or anything else) training took ten times as long.
        with threadpool_limits(limits=1):
            for topic_id in learnable:
                target = [topic_id in chosen for chosen in label_sets]
                fitted.append(LogisticRegression(**_REGRESSION).fit(matrix, target))
        return cls(
            Vectors.fitted(vectorizer),
            # Single precision: half the memory and the stored size, and the same suggestions
            # (a probability is shown to the whole per cent).
            numpy.vstack([m.coef_[0] for m in fitted]).astype(numpy.float32),
            numpy.array([m.intercept_[0] for m in fitted], numpy.float32),
            {t: counts[t] for t in learnable},
            labels,
        )

    def suggest(self, texts: Sequence[str]) -> list[list[Suggestion]]:
        """For each text, the topics in use whose regression gives it at least the threshold,
        each with the words that pushed hardest towards it."""
        import numpy

        results: list[list[Suggestion]] = [[] for _ in texts]
        in_use = [row for row, t in enumerate(self.topic_ids) if t in self.labels]
        if not texts or not in_use:
            return results
        weights, intercepts = self.weights[in_use], self.intercepts[in_use]
        topic_ids = [self.topic_ids[row] for row in in_use]
        for first in range(0, len(texts), CHUNK):
            rows = self.vectors.of(texts[first : first + CHUNK])
            # Every word of the chunk times its weight for every topic, summed per text: all
            # the topics' regressions at once.
            pushes = weights[:, rows.columns] * rows.values
            running = numpy.hstack([numpy.zeros((len(in_use), 1)), numpy.cumsum(pushes, axis=1)])
            scores = running[:, rows.starts[1:]] - running[:, rows.starts[:-1]]
            # The logistic function, written with tanh so that no score overflows it.
            probabilities = 0.5 + 0.5 * numpy.tanh((scores + intercepts[:, None]) / 2)
            for topic, text in zip(*numpy.nonzero(probabilities >= LEARNED_THRESHOLD), strict=True):
                probability = float(probabilities[topic, text])
                reason = self._explain(
                    self._heaviest(rows, pushes[topic], text), topic_ids[topic], probability
                )
                results[first + text].append(Suggestion(topic_ids[topic], probability, [reason]))
        return results

    def _heaviest(self, rows: Rows, pushes: ndarray, text: int) -> list[str]:
        """The text's words that pushed hardest towards a topic, heaviest first; of equal
        pushes, the first in the vocabulary."""
        import numpy

        start, end = rows.starts[text], rows.starts[text + 1]
        columns, pushed = rows.columns[start:end], pushes[start:end]
        heaviest = numpy.lexsort((columns, -pushed))[:WORDS_SHOWN]
        return [self.vectors.words[columns[i]] for i in heaviest if pushed[i] > 0]

    def _explain(self, words: list[str], topic_id: int, probability: float) -> str:
        """Why the topic: the items it was learned from, and the words in this item that
        pushed hardest towards it."""
        said = ", ".join(f"“{w}”" for w in words)
        return (
            f"like {wording.count(self.examples[topic_id], 'item')} librarians tagged "
            f"“{self.labels[topic_id]}” ({probability:.0%})" + (f": {said}" if said else "")
        )

    def to_bytes(self) -> bytes:
        import numpy

        buffer = io.BytesIO()
        numpy.savez_compressed(
            buffer,
            # Words hold no line breaks (the tokenizer splits on them): one text, not an
            # array of fixed-width strings as wide as the longest word pair.
            vocabulary=_joined(self.vectors.words),
            stop_words=_joined(sorted(self.vectors.stop_words)),
            idf=self.vectors.idf,
            topics=numpy.array(self.topic_ids, dtype=numpy.int64),
            examples=numpy.array([self.examples[t] for t in self.topic_ids], numpy.int64),
            weights=self.weights,
            intercepts=self.intercepts,
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, payload: bytes, labels: dict[int, str]) -> LearnedModel:
        """The model `to_bytes` stored; ValueError if the arrays do not fit together."""
        import numpy

        with numpy.load(io.BytesIO(payload), allow_pickle=False) as arrays:
            vocabulary = _split(arrays["vocabulary"])
            idf, weights, intercepts = arrays["idf"], arrays["weights"], arrays["intercepts"]
            topics, examples = arrays["topics"].tolist(), arrays["examples"].tolist()
            stop_words = frozenset(_split(arrays["stop_words"]))
        words, count = len(vocabulary), len(topics)
        shapes = (weights.shape, idf.shape, intercepts.shape, len(examples))
        if shapes != ((count, words), (words,), (count,), count):
            raise ValueError(f"arrays of shapes {shapes} for {count} topics and {words} words")
        return cls(
            Vectors(vocabulary, idf, stop_words),
            weights,
            intercepts,
            dict(zip(topics, examples, strict=True)),
            labels,
        )


def _joined(words: Sequence[str]) -> ndarray:
    import numpy

    return numpy.frombuffer("\n".join(words).encode(), numpy.uint8)


def _split(stored: ndarray) -> list[str]:
    text = stored.tobytes().decode()
    return text.split("\n") if text else []


def fingerprint(texts: Sequence[str], label_sets: Sequence[set[int]]) -> str:
    """Names the labelled set: the same texts with the same topics chosen give the same model.
    The topics' names are not part of it: renaming a topic needs no training."""
    digest = hashlib.sha256(_format().encode())
    for text, chosen in zip(texts, label_sets, strict=True):
        # Each text's length first, so that no two different sets run together alike.
        digest.update(f"{len(text)}:{text}{sorted(chosen)}".encode("utf-8", "surrogatepass"))
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
        named = fingerprint(texts, label_sets)
        if named != cls.fingerprint:
            cls.model = _stored(session, named, labels) or _trained(
                session, named, texts, label_sets, labels
            )
            cls.fingerprint = named
        if cls.model is not None:
            cls.model.labels = labels  # names as they are now, and the topics still in use
        return cls.model


def _stored(session: Session, named: str, labels: dict[int, str]) -> LearnedModel | None:
    payload = session.scalar(
        select(SuggestionModel.payload).where(SuggestionModel.fingerprint == named)
    )
    if payload is None:
        return None
    try:
        return LearnedModel.from_bytes(payload, labels)
    except (ValueError, KeyError, EOFError, OSError, zipfile.BadZipFile, zlib.error) as error:
        # A damaged row must not stop every poll: it is trained again and replaced.
        log.warning("The stored topic model could not be read (%s); training it again.", error)
        session.execute(delete(SuggestionModel).where(SuggestionModel.fingerprint == named))
        return None


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
    session.execute(
        insert_for(session, SuggestionModel)
        .values(fingerprint=named, items=len(texts), payload=model.to_bytes())
        .on_conflict_do_nothing(index_elements=[SuggestionModel.fingerprint])
    )
    return model
