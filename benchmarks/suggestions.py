"""How good are topic suggestions? Precision and recall at 3 on held-out labelled items.

    python benchmarks/suggestions.py [--data benchmarks/data/labelled_items.jsonl] [--folds 5]

Compares keywords alone (the topics' keywords in feeds.yaml) with keywords plus the classifier
learned from the other items' topics, by k-fold cross-validation: every item is held out once.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

from digest.config import load_config
from digest.curation.suggest import KeywordMatcher, LearnedModel, Suggester, TopicTerms

ROOT = Path(__file__).resolve().parent.parent
K = 3


def load_items(path: Path, slugs: dict[str, int]) -> list[tuple[str, str, set[int]]]:
    items = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        record = json.loads(line)
        unknown = set(record["topics"]) - set(slugs)
        if unknown:
            raise SystemExit(f"{path}:{number}: unknown topics {sorted(unknown)}")
        items.append((record["title"], record["summary"], {slugs[t] for t in record["topics"]}))
    return items


def score(suggester: Suggester, items: list[tuple[str, str, set[int]]]) -> tuple[float, float]:
    """Mean precision@3 (hits over 3) and recall@3 (hits over the item's true topics)."""
    results = suggester.suggest([(title, summary) for title, summary, _ in items], top_n=K)
    precision = recall = 0.0
    for (_, _, truth), suggestions in zip(items, results, strict=True):
        hits = len({s.topic_id for s in suggestions} & truth)
        precision += hits / K
        recall += hits / len(truth)
    return precision / len(items), recall / len(items)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, default=ROOT / "benchmarks" / "data" / "labelled_items.jsonl"
    )
    parser.add_argument("--config", type=Path, default=ROOT / "feeds.yaml")
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()

    config = load_config(args.config)
    terms = [TopicTerms(n, t.label, tuple(t.keywords)) for n, t in enumerate(config.topics)]
    labels = {t.topic_id: t.label for t in terms}
    items = load_items(args.data, {t.slug: n for n, t in enumerate(config.topics)})
    random.Random(42).shuffle(items)
    keywords = KeywordMatcher(terms)
    print(
        f"{len(items)} labelled items, {len(terms)} topics, {args.folds}-fold "
        "cross-validation, top 3 suggestions"
    )

    totals = {"keywords only": [0.0, 0.0], "keywords + learned": [0.0, 0.0]}
    training_seconds = 0.0
    for fold in range(args.folds):
        held_out = items[fold :: args.folds]
        training = [item for n, item in enumerate(items) if n % args.folds != fold]
        started = time.perf_counter()
        model = LearnedModel.train(
            [f"{t}\n{s}" for t, s, _ in training], [truth for _, _, truth in training], labels
        )
        training_seconds += time.perf_counter() - started
        for name, suggester in (
            ("keywords only", Suggester(keywords, None)),
            ("keywords + learned", Suggester(keywords, model)),
        ):
            precision, recall = score(suggester, held_out)
            totals[name][0] += precision / args.folds
            totals[name][1] += recall / args.folds

    print(f"{'suggester':<22}{'precision@3':>13}{'recall@3':>10}")
    for name, (precision, recall) in totals.items():
        print(f"{name:<22}{precision:>13.3f}{recall:>10.3f}")
    print(
        f"training on {len(items) * (args.folds - 1) // args.folds} items took "
        f"{training_seconds / args.folds:.2f} s on average"
    )


if __name__ == "__main__":
    main()
