"""A topic as a librarian types it into a box: by its label or slug, whatever the case, the
spacing or the Unicode form; and, when nothing matches, a sentence that says so."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

from digest.errors import Invalid
from digest.models import Topic


class TopicNameError(Invalid):
    """No topic that may be chosen has the name typed; the message is a sentence to show."""


def name_key(name: str) -> str:
    """What two spellings of one name share: NFKC form, case folded, spaces collapsed."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def topic_named(topics: Iterable[Topic], typed: str) -> Topic:
    """The topic whose label or slug is `typed`, of `topics` (every topic, retired too)."""
    wanted = name_key(typed)
    if not wanted:
        raise TopicNameError("Type a topic's name, or choose one from the list.")
    shown = " ".join(typed.split())
    for topic in topics:
        if wanted in (name_key(topic.label), name_key(topic.slug)):
            if topic.retired:
                raise TopicNameError(
                    f"The topic “{topic.label}” is retired: choose another from the list."
                )
            return topic
    raise TopicNameError(f"No topic called “{shown}”: choose one from the list.")
