"""Topics' keywords found in an item's title or summary: one pass over each text for all topics.

The rule a librarian sees: a topic is suggested when one of its keywords (or its label) appears
as whole words, in any case, in the title (score 0.9) or else in the summary (0.6), and the
reason quotes the words as found. That rule is each topic's regular expression,
`\\b(phrase|…)\\b` with IGNORECASE. Running every topic's expression over every item was the
cost of a poll (74 searches an item with the default topics), so one Aho-Corasick automaton over
all topics' phrases first finds which topics can match at all; only those topics' expressions
then run, from where their first phrase starts (a search reads what comes before that place
for the word boundary). The answer is the expression's, so the rule is
unchanged; the automaton only has to find a superset of the topics.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
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


# Of an automaton match: (end, (phrase length, topic ids)).
_END, _PHRASE = itemgetter(0), itemgetter(1)


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
            self._automaton.add_word(phrase, (len(phrase), tuple(topic_ids)))
        if phrases_of:
            self._automaton.make_automaton()

    def _candidates(self, text: str) -> dict[int, int]:
        """The topics with a phrase somewhere in `text` (a substring, in any case), each with
        where its expression's search may start: where its first phrase starts when folding
        kept every character in its place, else the beginning."""
        if not text or not self._patterns:
            return {}
        folded = fold(text)
        backwards = list(self._automaton.iter(folded))[::-1]
        # Each phrase found, with its first end: built in C (a later pair overwrites an
        # earlier one, hence backwards), as a summary can hold dozens of matches and a Python
        # loop over them cost more than the searches it saves.
        first_end = dict(zip(map(_PHRASE, backwards), map(_END, backwards), strict=True))
        same_places = len(folded) == len(text)
        found: dict[int, int] = {}
        for (length, topic_ids), end in first_end.items():
            start = end - length + 1 if same_places else 0
            for topic_id in topic_ids:
                if found.get(topic_id, start + 1) > start:
                    found[topic_id] = start
        return found

    def suggest(self, title: str, summary: str) -> list[Suggestion]:
        in_title = self._candidates(title)
        in_summary = self._candidates(summary)
        found = []
        for topic_id, pattern in self._patterns:
            if topic_id in in_title and (match := pattern.search(title, in_title[topic_id])):
                found.append(
                    Suggestion(topic_id, 0.9, [f"keyword “{match[1].lower()}” in the title"])
                )
            elif topic_id in in_summary and (
                match := pattern.search(summary, in_summary[topic_id])
            ):
                found.append(
                    Suggestion(topic_id, 0.6, [f"keyword “{match[1].lower()}” in the summary"])
                )
        return found
