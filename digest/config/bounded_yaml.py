"""YAML read at a bounded cost: aliases are allowed (a block of settings written once and used
in several places), but the document they stand for is limited in size and depth, so a few
hundred bytes of nested aliases (a "billion laughs") or brackets cannot take minutes and
gigabytes, or end in a RecursionError."""

from __future__ import annotations

from typing import Any

import yaml

from digest.errors import Invalid

# A config of 2,000 feeds is about 50,000 nodes once its aliases are expanded: four times that
# is generous, and still validates in about a second.
MAX_NODES = 200_000
# feeds.yaml nests five levels (feeds, a feed, its topics, ...); nothing needs fifty.
MAX_DEPTH = 50


class YAMLLimitError(Invalid, yaml.YAMLError):
    """The document is past one of the limits; says which, and where."""

    def __init__(self, problem: str, mark: yaml.Mark | None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.problem_mark = mark


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing documents nested past MAX_DEPTH while it composes them
    (its composer recurses once per level)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise YAMLLimitError(
                    f"it is nested more than {MAX_DEPTH} levels deep", self.peek_event().start_mark
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _check_expanded(root: yaml.Node) -> None:
    """Count the values the document stands for, and how deep they nest, with each alias
    counted as all it refers to. Each shared node is measured once, so this costs what the text
    costs, not what the expansion would. (An anchor's block ends before any alias to it outside
    it, so the walk nests no deeper than the text does.)"""
    measured: dict[int, tuple[int, int]] = {}  # node: (values, depth)
    open_nodes: set[int] = set()

    def measure(node: yaml.Node) -> tuple[int, int]:
        key = id(node)
        if key in measured:
            return measured[key]
        if key in open_nodes:
            raise YAMLLimitError("an alias refers to the block it is in", node.start_mark)
        open_nodes.add(key)
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = node.value
        elif isinstance(node, yaml.MappingNode):
            children = [each for pair in node.value for each in pair]
        parts = [measure(child) for child in children]
        open_nodes.discard(key)
        values = 1 + sum(count for count, _ in parts)
        depth = 1 + max((deep for _, deep in parts), default=0)
        if values > MAX_NODES:
            raise YAMLLimitError(
                f"with its aliases expanded it holds more than {MAX_NODES:,} values; write "
                "the repeated settings out, or use fewer aliases of aliases",
                node.start_mark,
            )
        if depth > MAX_DEPTH:
            raise YAMLLimitError(
                f"with its aliases expanded it is nested more than {MAX_DEPTH} levels deep",
                node.start_mark,
            )
        measured[key] = (values, depth)
        return measured[key]

    measure(root)


def load(text: str) -> tuple[yaml.Node | None, Any]:
    """The document's node tree (for line numbers) and its data; yaml.YAMLError (a
    YAMLLimitError past a limit) when it cannot be read."""
    loader = _BoundedLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None, None
        _check_expanded(root)
        return root, loader.construct_document(root)
    finally:
        loader.dispose()
