"""Topics' keywords found in an item's title or summary: one pass over each text for all topics.

The rule a librarian sees: a topic is suggested when one of its keywords (or its label) appears
as whole words, in any case, in the title (score 0.9) or else in the summary (0.6), and the
reason quotes the words as found. That rule is each topic's regular expression,
`\\b(phrase|…)\\b` with IGNORECASE. Running every topic's expression over every item was the
cost of a poll (74 searches an item with the default topics), so one Aho-Corasick automaton over
all topics' phrases first finds which topics can match at all; only those topics' expressions
then run. The answer is the expression's, so the rule is
unchanged; the automaton only has to find a superset of the topics.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import chain
from operator import itemgetter

import ahocorasick


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


# IGNORECASE matches "İ" (dotted capital I) and "ı" (dotless i) with "i", where casefold()
# gives "i̇" (two characters) and "ı": map them first so that the automaton finds those
# matches too. Every other cased character that the expression matches folds alike (checked
# over all of Unicode by the tests).
_BEFORE_FOLDING = str.maketrans({"İ": "i", "ı": "i"})


def fold(text: str) -> str:
    if text.isascii():
        return text.lower()  # the same, for ASCII, and a tenth of the time
    return text.translate(_BEFORE_FOLDING).casefold()


_TOPIC_IDS = itemgetter(1)  # of an automaton match: (end, topic ids)


class KeywordMatcher:
    """Finds each topic's keywords (and its label) as whole words in title and summary."""

    def __init__(self, topics: Sequence[TopicTerms]) -> None:
        self._patterns: list[tuple[int, re.Pattern[str]]] = []
        phrases_of: dict[str, set[int]] = {}
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
                for phrase in phrases:
                    phrases_of.setdefault(fold(phrase), set()).add(topic.topic_id)
        self._automaton = ahocorasick.Automaton()
        for phrase, topic_ids in phrases_of.items():
            self._automaton.add_word(phrase, tuple(topic_ids))
        if phrases_of:
            self._automaton.make_automaton()

    def _candidates(self, text: str) -> set[int]:
        """The topics with a phrase somewhere in `text`, as a substring in any case."""
        if not text or not self._patterns:
            return set()
        # All in C: the automaton's matches, their topic ids, the set. A summary can hold
        # dozens of matches, and a Python loop over them cost more than the search.
        return set(chain.from_iterable(map(_TOPIC_IDS, self._automaton.iter(fold(text)))))

    def suggest(self, title: str, summary: str) -> list[Suggestion]:
        in_title = self._candidates(title)
        in_summary = self._candidates(summary)
        found = []
        for topic_id, pattern in self._patterns:
            if topic_id in in_title and (match := pattern.search(title)):
                found.append(
                    Suggestion(topic_id, 0.9, [f"keyword “{match[1].lower()}” in the title"])
                )
            elif topic_id in in_summary and (match := pattern.search(summary)):
                found.append(
                    Suggestion(topic_id, 0.6, [f"keyword “{match[1].lower()}” in the summary"])
                )
        return found
