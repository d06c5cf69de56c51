"""Words for the staff pages' messages: counted nouns, sentences, a person named by name and
address."""

from __future__ import annotations


def plural(count: int, one: str, many: str | None = None) -> str:
    """ "1 subscriber", "2 subscribers", "1,200 people"."""
    return f"{count:,} {one if count == 1 else many or one + 's'}"


def sentence(text: str) -> str:
    """`text` as a sentence: a capital first, a full stop last (a stage's messages are
    clauses, to be put inside other sentences). A first word that is an address is left as
    it is: its case is the person's."""
    text = text.strip()
    if not text:
        return text
    if "@" not in text.split(" ", 1)[0]:
        text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?", ".)")) else text + "."


def who(name: str, email: str) -> str:
    """ "Zoë Ødegård <zoe@例え.jp>", or the address alone for someone without a name."""
    return f"{name} <{email}>" if name else email
