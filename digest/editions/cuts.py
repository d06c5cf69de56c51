"""What each group of subscribers will get from an edition: the cuts its page lists, named by
their topics' labels with how many items each gets, and a warning when some get none."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from digest.curation.topics import all_topics
from digest.editions.render import cut
from digest.models import Edition
from digest.subscriptions.overview import topic_cuts
from digest.wording import count


@dataclass(frozen=True)
class CutPreview:
    """Subscribers who get the same items: the topics they chose, how many they are, and how
    many of the edition's items they get."""

    labels: tuple[str, ...]  # the chosen topics' labels, alphabetical; none: every topic
    chosen: frozenset[str]  # the chosen topics' slugs, for the preview's address
    widened: bool  # whether topics below the chosen ones are matched too
    subscribers: int
    items: int

    @property
    def name(self) -> str:
        return ", ".join(self.labels) if self.labels else "All topics"

    @property
    def empty(self) -> bool:
        return self.items == 0


def preview_cuts(
    session: Session, edition: Edition, items: list[dict[str, Any]]
) -> list[CutPreview]:
    """The edition's cuts, most subscribers first; `items` are its entries as read."""
    labels = {topic.slug: topic.label for topic in all_topics(session)}
    return [
        CutPreview(
            labels=tuple(sorted((labels.get(s, s) for s in each.chosen), key=str.casefold)),
            chosen=each.chosen,
            widened=each.topics != each.chosen,
            subscribers=each.subscribers,
            items=len(cut(items, each.topics)),
        )
        for each in topic_cuts(session, edition.newsletter_id)
    ]


def empty_cut_warning(cuts: list[CutPreview], sends_a_note: bool) -> str | None:
    """What to tell the editor when some subscribers' topics have nothing in the edition: with
    `sends_a_note` (the newsletter's `note_when_nothing_matches`) they get the introduction
    and a note saying so; without, they are sent nothing this week."""
    people = sum(each.subscribers for each in cuts if each.empty)
    if not people:
        return None
    then = (
        "They get the introduction, with a note that nothing matched their topics."
        if sends_a_note
        else "The newsletter sends them nothing this week."
    )
    nothing = "will get no items: their topics have nothing this week."
    return f"{count(people, 'subscriber')} {nothing} {then}"
