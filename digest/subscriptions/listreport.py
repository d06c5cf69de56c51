"""What a list import did, or would do: counts for the command line, and each row's outcome
(new, updated, unchanged, left, held back, bad) for the web preview, with a fingerprint that
says whether two runs over a file decided alike."""

from __future__ import annotations

import enum
import hashlib
from collections import Counter
from dataclasses import dataclass, field

from digest.subscriptions.listfiles import RowError

MAX_LISTED = 1000  # rows listed by number, of each outcome; any more are counted
_MODULUS = 2**256


class Outcome(enum.StrEnum):
    """What a row does to the newsletter's subscriptions."""

    NEW = "new"  # subscribed to the newsletter for the first time
    UPDATED = "updated"  # already subscribed: status, topics or name change
    UNCHANGED = "unchanged"  # already subscribed, and the row changes nothing of it
    LEFT = "left"  # the row says they left: recorded, and on the suppression list
    HELD_BACK = "held back"  # on the suppression list (or left earlier): not subscribed
    BAD = "bad"  # cannot be taken: the reason says why


_TAKEN = (Outcome.NEW, Outcome.UPDATED, Outcome.UNCHANGED, Outcome.LEFT)


@dataclass(frozen=True)
class RowOutcome:
    number: int  # the row's number in the file, the header being row 1
    email: str
    name: str
    detail: str  # what changes, why it is held back, or why it is bad


@dataclass
class ImportReport:
    format: str = ""
    added: int = 0  # rows naming a person not stored before
    updated: int = 0  # rows naming a person already stored
    errors: list[str] = field(default_factory=list)  # "row N": the first MAX_LISTED, in order
    skipped: int = 0  # bad rows, listed or not
    held_back: Counter[str] = field(default_factory=Counter)  # rows left out, by reason
    left: int = 0  # rows saying the person left: recorded, and on the suppression list
    unknown_tags: Counter[str] = field(default_factory=Counter)  # Mailchimp tags, not topics
    international: list[int] = field(default_factory=list)  # rows only SMTPUTF8 can reach
    notes: list[str] = field(default_factory=list)  # what staff should know about rows taken
    outcomes: Counter[Outcome] = field(default_factory=Counter)  # every row's, counted
    listed: dict[Outcome, list[RowOutcome]] = field(default_factory=dict)  # MAX_LISTED each
    # The sum of a hash of each row's outcome: the same rows decided alike give the same sum
    # whatever order they were written in (a refused batch is written again row by row).
    _sum: int = 0

    def held_back_summary(self) -> str:
        """E.g. "held back 3 rows: 2 unsubscribed, 1 bounced"; "" when none was."""
        total = sum(self.held_back.values())
        if not total:
            return ""
        reasons = ", ".join(f"{n} {reason}" for reason, n in self.held_back.most_common())
        return f"held back {total} row{'' if total == 1 else 's'}: {reasons}"

    def note(self, outcome: Outcome, number: int, email: str, name: str, detail: str) -> None:
        """One row's outcome."""
        self.outcomes[outcome] += 1
        shown = self.listed.setdefault(outcome, [])
        if len(shown) < MAX_LISTED:
            shown.append(RowOutcome(number, email, name, detail))
        digest = hashlib.sha256(f"{number}\0{outcome}\0{email}\0{name}\0{detail}".encode())
        self._sum = (self._sum + int.from_bytes(digest.digest())) % _MODULUS

    @property
    def fingerprint(self) -> str:
        """The same for two runs that decided every row alike, and only then (as far as
        SHA-256 goes)."""
        return f"{self._sum:064x}"

    @property
    def taken(self) -> int:
        """Rows that are written: subscriptions made, changed or confirmed, and leavers."""
        return sum(self.outcomes[o] for o in _TAKEN)

    def add_errors(self, errors: list[RowError]) -> None:
        """Errors of rows after those already reported."""
        self.skipped += len(errors)
        ordered = sorted(errors, key=lambda e: e.number)
        room = MAX_LISTED - len(self.errors)
        self.errors += [str(e) for e in ordered[: max(room, 0)]]
        for error in ordered:
            self.note(Outcome.BAD, error.number, "", "", error.message)

    def add(self, other: ImportReport) -> None:
        self.added += other.added
        self.updated += other.updated
        self.held_back.update(other.held_back)
        self.left += other.left
        self.unknown_tags.update(other.unknown_tags)
        self.international += other.international
        self.outcomes.update(other.outcomes)
        for outcome, rows in other.listed.items():
            shown = self.listed.setdefault(outcome, [])
            shown += rows[: max(MAX_LISTED - len(shown), 0)]
        self._sum = (self._sum + other._sum) % _MODULUS
