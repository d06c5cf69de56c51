"""An item's words as a learned model reads them: scikit-learn's TF-IDF, applied with numpy alone.

A stored model is applied at every poll, and scikit-learn takes over a second to import: these
few lines give the same vectors as its `TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2),
stop_words=…, strip_accents="unicode")` once fitted, so that only training imports it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from numpy import ndarray

_TOKEN = re.compile(r"(?u)\b\w\w+\b")  # scikit-learn's default token pattern


def fold(text: str) -> str:
    """Lower case, then accents stripped as scikit-learn's `strip_accents="unicode"` does."""
    text = text.lower()
    if text.isascii():
        return text
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def terms(text: str, stop_words: frozenset[str]) -> list[str]:
    """The words of `text` that are not stop words, then each pair of neighbours among them."""
    words = [w for w in _TOKEN.findall(fold(text)) if w not in stop_words]
    return words + [f"{a} {b}" for a, b in pairwise(words)]


@dataclass(frozen=True)
class Rows:
    """Texts' vectors as compressed sparse rows: text `n`'s columns are
    `columns[starts[n]:starts[n + 1]]`, with their `values` alike."""

    starts: ndarray
    columns: ndarray
    values: ndarray

    def __len__(self) -> int:
        return len(self.starts) - 1


@dataclass(frozen=True)
class Vectors:
    """A fitted vocabulary (its words in column order), each column's inverse document
    frequency, and the stop words left out."""

    words: Sequence[str]
    idf: ndarray
    stop_words: frozenset[str]
    vocabulary: dict[str, int] = field(init=False, repr=False)  # word → column

    def __post_init__(self) -> None:
        columns = {word: column for column, word in enumerate(self.words)}
        object.__setattr__(self, "vocabulary", columns)

    @classmethod
    def fitted(cls, vectorizer: Any) -> Vectors:
        """What a fitted scikit-learn `TfidfVectorizer` learned."""
        return cls(
            list(vectorizer.get_feature_names_out()),
            vectorizer.idf_,
            frozenset(vectorizer.get_stop_words()),
        )

    def of(self, texts: Iterable[str]) -> Rows:
        """Each text's sublinear term frequencies times idf, scaled to unit length."""
        import numpy

        starts = [0]
        columns: list[int] = []
        counts: list[int] = []
        for text in texts:
            found: dict[int, int] = {}
            for term in terms(text, self.stop_words):
                column = self.vocabulary.get(term)
                if column is not None:
                    found[column] = found.get(column, 0) + 1
            columns += found
            counts += found.values()
            starts.append(len(columns))
        column_array = numpy.array(columns, numpy.int64)
        values = (1.0 + numpy.log(numpy.array(counts, numpy.float64))) * self.idf[column_array]
        bounds = numpy.array(starts, numpy.int64)
        rows = numpy.repeat(numpy.arange(len(starts) - 1), numpy.diff(bounds))
        lengths = numpy.sqrt(numpy.bincount(rows, values * values, len(starts) - 1))
        values /= lengths[rows]
        return Rows(bounds, column_array, values)
