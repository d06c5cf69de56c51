"""Counts in words, for the admin pages' questions and messages."""

from __future__ import annotations


def counted(number: int, noun: str, plural: str | None = None) -> str:
    """ "1 item", "1,204 items": the number with its noun, singular only for one."""
    return f"{number:,} {noun if number == 1 else plural or noun + 's'}"
