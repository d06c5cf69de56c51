"""The staff pages' messages read as sentences: a capital first (never on an address, whose
case is the person's), one full stop last, and counted nouns in the singular for one."""

from __future__ import annotations

import pytest

from digest import wording
from digest.wording import sentence, who


@pytest.mark.parametrize(
    ("clause", "expected"),
    [
        ("the source has 300 characters", "The source has 300 characters."),
        (
            "'x' is not an email address (It must have an @-sign.)",
            "'x' is not an email address (It must have an @-sign.)",
        ),
        ("zoe@例え.jp is on the suppression list", "zoe@例え.jp is on the suppression list."),
        ("ødegård left.", "Ødegård left."),
        ("", ""),
    ],
    ids=["clause", "ends in brackets", "address first", "non-ASCII capital", "empty"],
)
def test_a_clause_becomes_a_sentence(clause: str, expected: str) -> None:
    assert sentence(clause) == expected


@pytest.mark.parametrize(
    ("count", "expected"),
    [(0, "0 people"), (1, "1 person"), (2, "2 people"), (12000, "12,000 people")],
)
def test_people_are_counted_in_the_right_number(count: int, expected: str) -> None:
    assert wording.count(count, "person", "people") == expected


def test_a_row_is_counted_with_an_s_for_more_than_one() -> None:
    assert (wording.count(1, "bad row"), wording.count(3, "bad row")) == ("1 bad row", "3 bad rows")


def test_a_person_is_named_by_name_and_address_or_address_alone() -> None:
    assert who("Zoë Ødegård", "zoe@例え.jp") == "Zoë Ødegård <zoe@例え.jp>"
    assert who("", "zoe@例え.jp") == "zoe@例え.jp"
