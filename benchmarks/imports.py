"""Import benchmark: a 100,000-row subscriber list and a 1,000,000-row catalogue CSV.

    python benchmarks/imports.py [--subscribers 100000] [--records 1000000] [--db URL]

Each import is what a person runs, `digest subscribers import FILE --newsletter caspar` and
`digest items import FILE --newsletter new-in-the-library`, timed from process start to exit,
with the peak resident memory of the command and every process below it. The subscriber list
is in Digest's own export format, with topics, consent dates and about 1% bad rows; the
catalogue has every column filled and unique records. The reference, measured in the same
run, is the floor for the same rows: Python's csv reader over the file, inserting each row
as it is into one table of the same database in batches of 1,000. Targets: 100,000
subscribers in under 30 s, a million catalogue rows in at most 300 MB.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from ingest import WORDS  # noqa: E402  (the ingest benchmark's)
from peak import OwnPeak, TreeMemory  # noqa: E402

from digest.subscriptions.listfiles import COLUMNS  # noqa: E402

TOPICS = ("neglect", "online-grooming", "online-abuse", "domestic-abuse", "bullying")
CATALOGUE_COLUMNS = ("title", "authors", "year", "publisher", "place", "url", "isbn", "abstract")
NAMES = ["Ann", "Siân", "José", "Gwenllïan", "Dylan", "Li", "花子", "Ōtake", "Zoë", "Bob"]


def write_subscribers(path: Path, rows: int, seed: int = 11, first: int = 0) -> None:
    """A list in Digest's export format: about 1% of rows have a bad address. The addresses
    are numbered from `first`."""
    rng = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for n in range(first, first + rows):
            name = f"{rng.choice(NAMES)} {rng.choice(WORDS).capitalize()}"
            email = f"reader{n}@{rng.choice(['example.org', 'bücher.example', 'example.ac.uk'])}"
            if rng.random() < 0.01:
                email = f"reader{n} at example.org"
            day = f"20{rng.randint(15, 25)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}"
            writer.writerow(
                [
                    email,
                    name,
                    "unsubscribed" if rng.random() < 0.02 else "active",
                    ";".join(rng.sample(TOPICS, rng.randint(0, 2))),
                    "Sign-up form",
                    f"{day}T09:00:00+00:00",
                    f"192.0.2.{rng.randint(1, 254)}",
                    f"{day}T09:05:00+00:00",
                ]
            )


def write_catalogue(path: Path, rows: int, seed: int = 13, first: int = 0) -> None:
    """A catalogue export: every record distinct, about 400 bytes a row, numbered from
    `first`."""
    rng = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CATALOGUE_COLUMNS)
        for n in range(first, first + rows):
            title = f"{' '.join(rng.choices(WORDS, k=7)).capitalize()} ({n})"
            writer.writerow(
                [
                    title,
                    f"{rng.choice(NAMES)}, {rng.choice(NAMES)}; {rng.choice(WORDS).title()}, A.",
                    rng.randint(1990, 2026),
                    f"{rng.choice(WORDS).title()} Press",
                    rng.choice(["London", "Cardiff", "Leeds", "Bristol"]),
                    f"https://catalogue.example.org/record/{n}",
                    "",
                    " ".join(rng.choices(WORDS, k=30)).capitalize() + ".",
                ]
            )


def run_command(args: list[str], env: dict[str, str]) -> dict[str, object]:
    """Run a `digest` command; its wall time, peak memory of its process tree, and output."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "digest", *args],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    own = OwnPeak(process.pid)
    # A scan of /proc costs a few milliseconds: four a second keeps the sampler's own share
    # of a busy two-core machine small (the command's own peak is read apart).
    sampler = TreeMemory(process.pid, every=0.25)
    sampler.start()
    output = []
    reader = threading.Thread(target=lambda: output.append(process.stdout.read().decode()))
    reader.start()
    _, status, _ = os.wait4(process.pid, 0)
    took = time.perf_counter() - started
    sampler.stop()
    reader.join()
    text = "".join(output)
    if status != 0:
        sys.exit(f"digest {' '.join(args)} failed:\n{text[-3000:]}")
    return {"seconds": took, "peak_mb": max(own.stop(), sampler.peak_kib // 1024), "output": text}


def reference(database_url: str, path: Path) -> float:
    """Seconds to read `path` with csv.reader and insert its rows as they are, 1,000 a batch."""
    from sqlalchemy import Column, MetaData, Table, Text, insert

    from digest.db import make_engine

    engine = make_engine(database_url)
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        columns = next(reader)
        table = Table(
            f"reference_{uuid.uuid4().hex[:6]}", MetaData(), *(Column(c, Text) for c in columns)
        )
        table.create(engine)
        started = time.perf_counter()
        with engine.begin() as connection:
            batch: list[dict[str, str]] = []
            for row in reader:
                batch.append(dict(zip(columns, row, strict=False)))
                if len(batch) == 1000:
                    connection.execute(insert(table), batch)
                    batch = []
            if batch:
                connection.execute(insert(table), batch)
        took = time.perf_counter() - started
    table.drop(engine)
    engine.dispose()
    return took


@contextmanager
def database(url: str | None, folder: Path) -> object:
    """A fresh SQLite file, or a fresh schema in the PostgreSQL database `url`."""
    if url is None:
        yield f"sqlite:///{folder / f'imports-{uuid.uuid4().hex[:8]}.sqlite'}"
        return
    import psycopg

    schema = f"digest_bench_{uuid.uuid4().hex[:8]}"
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    try:
        separator = "&" if "?" in url else "?"
        yield f"{url}{separator}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


def measure(url: str | None, folder: Path, kind: str, path: Path, rows: int) -> dict:
    env = {"DIGEST_SECRET_KEY": "benchmark-key", "DIGEST_LOG_FILE": str(folder / "log")}
    with database(url, folder) as database_url:
        common = ["--config", str(ROOT / "feeds.yaml"), "--db", database_url]
        run_command([*common, "init"], env)
        if kind == "subscribers":
            args = ["subscribers", "import", str(path), "--newsletter", "caspar"]
        else:
            args = ["items", "import", str(path), "--newsletter", "new-in-the-library"]
        result = run_command([*common, *args], env)
        ref = reference(database_url, path)
    lines = [line for line in str(result["output"]).splitlines() if line.startswith("Imported")]
    print(f"    {lines[-1] if lines else str(result['output']).strip()[-300:]}")
    return {**result, "rows": rows, "reference": ref}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--db", help="a PostgreSQL URL (default: a SQLite file)")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if args.subscribers:
            path = folder / "subscribers.csv"
            write_subscribers(path, args.subscribers)
            print(f"Subscriber list: {args.subscribers:,} rows, {path.stat().st_size >> 20} MB")
            results["subscribers import"] = measure(
                args.db, folder, "subscribers", path, args.subscribers
            )
        if args.records:
            path = folder / "catalogue.csv"
            write_catalogue(path, args.records)
            print(f"Catalogue: {args.records:,} rows, {path.stat().st_size >> 20} MB")
            results["items import"] = measure(args.db, folder, "items", path, args.records)
    print()
    print(f"{'command':<20}{'rows':>11}{'seconds':>9}{'rows/s':>9}{'peak MB':>9}"
          f"{'reference s':>13}{'x reference':>13}")  # fmt: skip
    for label, r in results.items():
        print(
            f"{label:<20}{r['rows']:>11,}{r['seconds']:>9.1f}{r['rows'] / r['seconds']:>9,.0f}"
            f"{r['peak_mb']:>9}{r['reference']:>13.1f}{r['seconds'] / r['reference']:>13.1f}"
        )


if __name__ == "__main__":
    main()
