"""The layers of Digest's code, checked against what its modules import.

ARCHITECTURE.md shows this map to people; the last test here keeps the two the same.

A unit is a top-level module or package of `digest` (`audit`, `delivery`); `__init__` is the
package itself. A module may import anything in its own unit and anything in a lower layer.
Within its own layer it may import only what the table lists for its unit, and no cycle is
allowed anywhere, between units or between modules.

Modules are read, not imported, and every import counts for the layers: at the top, inside a
function, under TYPE_CHECKING. An import put off until it is needed is still a dependency.
Between two modules of one unit, an import under TYPE_CHECKING (a name for a type hint, never
loaded) makes no cycle: the protocol a module defines for its collaborators may name them.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from itertools import pairwise
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "digest"

# The layers, lowest first.
#
# Foundation: the models, the database and small helpers that know nothing of the pipeline.
# They may use one another (never in a cycle).
FOUNDATION = frozenset(
    {
        "__init__",
        "addresses",
        "audit",
        "bulk",
        "citations",
        "csvfiles",
        "db",
        "defaults",
        "errors",
        "formlimits",
        "install",
        "localfiles",
        "locks",
        "mailsettings",
        "models",
        "networks",
        "settings",
        "timeutil",
        "wording",
    }
)
# Stages: the pipeline's work, each stage with the other stages it may use.
STAGES: Mapping[str, frozenset[str]] = {
    "config": frozenset(),
    "accounts": frozenset(),
    "ingest": frozenset({"config"}),
    "catalogue": frozenset({"ingest"}),
    "research": frozenset({"ingest"}),
    "curation": frozenset({"config", "ingest"}),
    "subscriptions": frozenset({"curation"}),
    "editions": frozenset({"curation", "ingest", "subscriptions"}),
    "delivery": frozenset({"accounts", "config", "curation", "editions", "subscriptions"}),
}
# Entry points: what runs the stages. Nothing below imports them; the command starts the web
# app and the scheduler. Migrations are loaded by Alembic from their files.
ENTRY_POINTS: Mapping[str, frozenset[str]] = {
    "web": frozenset(),
    "scheduler": frozenset(),
    "migrations": frozenset(),
    "cli": frozenset({"web", "scheduler"}),
    "__main__": frozenset({"cli"}),
}
LAYERS: Mapping[str, Iterable[str]] = {
    "foundation": FOUNDATION,
    "stages": STAGES,
    "entry points": ENTRY_POINTS,
}


@dataclass(frozen=True)
class Import:
    source: str  # the importing module, e.g. digest.delivery.queue
    target: str  # the module imported, e.g. digest.editions.render
    where: str  # file and line of the import statement
    typing_only: bool = False  # under `if TYPE_CHECKING:`


def unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def rank(name: str) -> int:
    return next(i for i, units in enumerate(LAYERS.values()) if name in units)


def layer(name: str) -> str:
    return next(title for title, units in LAYERS.items() if name in units)


def same_layer_uses(name: str) -> frozenset[str]:
    if name in FOUNDATION:
        return FOUNDATION
    return {**STAGES, **ENTRY_POINTS}[name]


def may_use(name: str) -> str:
    if name in FOUNDATION:
        return "the foundation"
    names = [f"the {title}" for title in list(LAYERS)[: rank(name)]]
    names += sorted(same_layer_uses(name))
    return " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)


def allowed(source: str, target: str) -> bool:
    a, b = unit(source), unit(target)
    return a == b or rank(b) < rank(a) or (rank(a) == rank(b) and b in same_layer_uses(a))


def modules(root: Path = ROOT) -> dict[str, Path]:
    """Every module of the package by dotted name; a package by its own name."""
    found = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports_in(name: str, source: str, known: Iterable[str], where: str) -> list[Import]:
    """What module `name` (whose text is `source`, read from the file `where`) imports of the
    modules in `known`, wherever in the module the import is. `from package import name`
    counts as the module `package.name` when there is one, else as `package`."""
    known = set(known)
    here = name.split(".") if where.endswith("__init__.py") else name.split(".")[:-1]

    def resolved(dotted: str) -> str | None:
        parts = dotted.split(".")
        while parts and ".".join(parts) not in known:
            parts.pop()
        return ".".join(parts) or None

    tree = ast.parse(source)
    for_types = {
        id(inner)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
        for inner in ast.walk(block)
    }
    found = []
    for node in ast.walk(tree):
        targets: list[str | None] = []
        if isinstance(node, ast.Import):
            targets = [resolved(alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*here[: len(here) - node.level + 1], *filter(None, [base])])
            targets = [resolved(f"{base}.{alias.name}") or resolved(base) for alias in node.names]
        for target in targets:
            if target is not None and target != name:
                found.append(
                    Import(name, target, f"{where}:{node.lineno}", id(node) in for_types)
                )
    return found


@cache
def all_imports() -> tuple[Import, ...]:
    known = modules()
    return tuple(
        found
        for name, path in known.items()
        for found in imports_in(
            name, path.read_text(encoding="utf-8"), known, str(path.relative_to(ROOT))
        )
    )


def cycles(edges: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """A shortest cycle through each node that is on one, each cycle listed once."""
    graph = {node: sorted(set(targets)) for node, targets in edges.items()}
    found, seen = [], set()
    for start in sorted(graph):
        cycle = _shortest_way_back(graph, start)
        if cycle is not None and (steps := frozenset(pairwise(cycle))) not in seen:
            seen.add(steps)
            found.append(cycle)
    return found


def _shortest_way_back(graph: Mapping[str, list[str]], start: str) -> list[str] | None:
    # Breadth first: the first way back to `start` is a shortest one.
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for nxt in graph.get(node, ()):
            if nxt == start:
                return [*paths[node], start]
            if nxt not in paths:
                paths[nxt] = [*paths[node], nxt]
                queue.append(nxt)
    return None


def test_every_unit_has_one_place_in_the_layers() -> None:
    placed = [name for units in LAYERS.values() for name in units]
    assert len(placed) == len(set(placed)), "a unit is in two layers"
    assert {unit(m) for m in modules()} == set(placed)


def test_the_table_itself_has_no_cycle() -> None:
    assert cycles({**STAGES, **ENTRY_POINTS}) == []


def test_no_import_goes_up_or_sideways_unlisted() -> None:
    wrong = [
        f"{found.where}: {found.source} imports {found.target}, but {unit(found.source)} "
        f"({layer(unit(found.source))}) may use only {may_use(unit(found.source))}"
        for found in all_imports()
        if not allowed(found.source, found.target)
    ]
    assert wrong == [], "\n".join(wrong)


def found_cycles(grouped: Callable[[str], str], with_types: bool = True) -> list[str]:
    """Each cycle in the imports, with modules taken together as `grouped` says (and those
    under TYPE_CHECKING left out, unless `with_types`)."""
    edges: dict[str, set[str]] = defaultdict(set)
    sites: dict[tuple[str, str], str] = {}
    for found in all_imports():
        a, b = grouped(found.source), grouped(found.target)
        if a != b and (with_types or not found.typing_only):
            edges[a].add(b)
            sites.setdefault((a, b), found.where)
    return [
        " -> ".join(cycle) + " (" + ", ".join(sites[step] for step in pairwise(cycle)) + ")"
        for cycle in cycles(edges)
    ]


def test_no_cycle_between_units() -> None:
    found = found_cycles(unit)
    assert found == [], "\n".join(found)


def test_no_cycle_between_modules() -> None:
    found = found_cycles(lambda module: module, with_types=False)
    assert found == [], "\n".join(found)


def test_the_table_allows_no_more_than_the_code_uses() -> None:
    # A use the code no longer makes would let one in unnoticed, and misdescribe the code.
    used = {(unit(f.source), unit(f.target)) for f in all_imports()}
    unused = [
        f"{name} -> {other}"
        for name, uses in {**STAGES, **ENTRY_POINTS}.items()
        for other in sorted(uses)
        if (name, other) not in used
    ]
    assert unused == []


def test_the_check_sees_imports_inside_functions_and_relative_ones() -> None:
    known = ["digest.models", "digest.curation.items", "digest.curation.topics", "digest.web"]
    source = (
        "from digest.models import Item\n"
        "def view():\n"
        "    from .topics import tree\n"
        "    import digest.web.views\n"
    )
    found = imports_in("digest.curation.items", source, known, "digest/curation/items.py")
    assert [(f.target, f.where) for f in found] == [
        ("digest.models", "digest/curation/items.py:1"),
        ("digest.curation.topics", "digest/curation/items.py:3"),
        ("digest.web", "digest/curation/items.py:4"),
    ]
    assert [allowed(f.source, f.target) for f in found] == [True, True, False]


def _layer_tables() -> dict[str, list[str]]:
    """The rows of the tables under ARCHITECTURE.md's "Layers" heading: each row's first cell,
    with the names in backquotes in the rest of the row."""
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    section = text.split("\n## Layers\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        if line.startswith("|") and not line.startswith("| ---"):
            first, *rest = (cell.strip() for cell in line.strip().strip("|").split("|"))
            rows[first.strip("`")] = re.findall(r"`(\w+)`", " ".join(rest))
    return rows


def test_architecture_md_shows_this_table() -> None:
    rows = _layer_tables()
    for title, units in LAYERS.items():
        assert title in rows, f"no row for the layer {title!r}"
        assert sorted(rows[title]) == sorted(units), f"the layer {title!r}"
    for name, uses in {**STAGES, **ENTRY_POINTS}.items():
        assert name in rows, f"no row for {name!r}"
        assert sorted(rows[name]) == sorted(uses), f"the row of {name!r}"
