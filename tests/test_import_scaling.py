"""Imports take time in proportion to the file and memory in proportion to a batch: four times
the rows take about four times the time, a handful of statements per thousand rows, and no more
memory. (A query or flush per row, or a whole file held as rows, made 100,000 subscribers take
minutes and a million catalogue rows 5 GB.) The benchmark, benchmarks/imports.py, measures the
full sizes; this catches a regression in the suite, on SQLite, in a few seconds."""

from __future__ import annotations

import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import event, select

from digest import csvfiles
from digest.catalogue import importer
from digest.db import transaction
from digest.models import Newsletter
from digest.subscriptions import lists

sys.path.insert(0, str(Path(__file__).parent.parent / "benchmarks"))
from imports import write_catalogue, write_subscribers

SMALL, LARGE = 1_000, 4_000
BATCH = 200  # rows a batch, for the test: both imports are many batches
# Linear is 4 (less, with a fixed cost per import); a cost per row that grows with the rows
# stored before it gives 10 or more. The margin is for a machine shared with other work.
MOST = 7.0
STATEMENTS_PER_BATCH = 20  # at most: a batch is some 10 to 15 statements, whatever its size


def _subscribers(factory, path: Path) -> tuple[float, int]:
    with transaction(factory) as session, csvfiles.open_csv(path) as found:
        newsletter = session.scalar(select(Newsletter).where(Newsletter.slug == "caspar"))
        started = time.perf_counter()
        report = lists.import_csv(session, found, newsletter, "scaling test", "key", actor="test")
        return time.perf_counter() - started, report.added


def _catalogue(factory, path: Path) -> tuple[float, int]:
    with transaction(factory) as session:
        started = time.perf_counter()
        report = importer.import_catalogue(session, path, "new-in-the-library")
        return time.perf_counter() - started, report.counts.new


def _measure(
    factory,
    folder: Path,
    write: Callable[..., None],
    run: Callable[[Path], tuple[float, int]],
) -> dict[str, dict[str, float]]:
    """Seconds, statements and peak memory of a small and a large import."""
    statements = [0]

    def count(*_: object) -> None:
        statements[0] += 1

    engine = factory.kw["bind"]
    event.listen(engine, "before_cursor_execute", count)
    found = {}
    # A small import first, so that neither measured one pays for loading code.
    for label, rows, first in (
        ("warm", 200, 900_000),
        ("small", SMALL, 0),
        ("large", LARGE, 10**5),
    ):
        path = folder / f"{label}.csv"
        write(path, rows, first=first)
        statements[0] = 0
        tracemalloc.start()
        try:
            seconds, taken = run(path)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert taken > rows // 2  # (the test config lacks some of the topics rows name)
        found[label] = {"seconds": seconds, "statements": statements[0], "peak": peak}
    event.remove(engine, "before_cursor_execute", count)
    return found


def _check(found: dict[str, dict[str, float]]) -> None:
    small, large = found["small"], found["large"]
    said = f"{SMALL:,} rows: {small}; {LARGE:,} rows: {large}"
    assert large["seconds"] / small["seconds"] < MOST, said
    assert large["statements"] < STATEMENTS_PER_BATCH * LARGE / BATCH, said
    # Memory is that of the few batches being read and written, never the file's: four times
    # the rows held at once would be four times the peak.
    assert large["peak"] < 2 * small["peak"], said


# Growth is measured as time: no other test may share the machine meanwhile.
pytestmark = pytest.mark.alone


@pytest.fixture(autouse=True)
def small_batches(monkeypatch) -> None:
    monkeypatch.setattr(lists, "BATCH", BATCH)
    monkeypatch.setattr(importer, "BATCH", BATCH)


def test_subscriber_import_grows_linearly(sqlite_factory, tmp_path: Path) -> None:
    _check(
        _measure(
            sqlite_factory, tmp_path, write_subscribers, lambda p: _subscribers(sqlite_factory, p)
        )
    )


def test_catalogue_import_grows_linearly(sqlite_factory, tmp_path: Path) -> None:
    _check(
        _measure(sqlite_factory, tmp_path, write_catalogue, lambda p: _catalogue(sqlite_factory, p))
    )
