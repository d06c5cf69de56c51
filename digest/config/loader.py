"""Reading `feeds.yaml`: every problem reported with its file, line and field, or a valid config."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from digest.config import bounded_yaml
from digest.config.schema import LOCAL_FILES_ALLOWED, DigestConfig
from digest.errors import Invalid
from digest.localfiles import LocalFileError, read_regular_file

Path_ = tuple[str | int, ...]
# feeds.yaml for 2,000 feeds is about 400 KB.
MAX_CONFIG_BYTES = 4 * 2**20
# A file that extends one that extends one ... : two levels are the most any install uses.
MAX_EXTENDS = 8


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


class ConfigError(Invalid):
    """The config file cannot be used; `problems` says every reason found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def format_field(path: Path_) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


class _Source:
    """One YAML file: its data and the line of every node in it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lines: dict[Path_, int] = {}
        self.problems: list[Problem] = []
        try:
            text = read_regular_file(path, MAX_CONFIG_BYTES).decode("utf-8")
        except LocalFileError as exc:
            raise ConfigError([Problem(str(path), None, "", f"cannot be read: {exc}")]) from None
        except UnicodeDecodeError as exc:
            raise ConfigError(
                [Problem(str(path), None, "", f"cannot be read: it is not UTF-8 text ({exc})")]
            ) from None
        try:
            root, data = bounded_yaml.load(text)
            self.data: Any = data or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark else None
            problem = getattr(exc, "problem", None) or str(exc)
            raise ConfigError(
                [Problem(str(path), line, "", f"not valid YAML: {problem}")]
            ) from None
        if root is not None:
            self._index(root, ())
        if not isinstance(self.data, dict):
            raise ConfigError(
                [Problem(str(path), 1, "", "expected a mapping with newsletters, topics and feeds")]
            )

    def _index(self, node: yaml.Node, path: Path_) -> None:
        self.lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key, value in node.value:
                name = str(key.value)
                if name in seen:
                    self.problems.append(
                        Problem(
                            str(self.path),
                            key.start_mark.line + 1,
                            format_field((*path, name)),
                            "appears twice in the same block",
                        )
                    )
                seen.add(name)
                self._index(value, (*path, name))
                self.lines[(*path, name)] = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for index, value in enumerate(node.value):
                self._index(value, (*path, index))

    def problem(self, path: Path_, message: str) -> Problem:
        """A problem at `path`, located at the nearest line the file has for it."""
        for end in range(len(path), -1, -1):
            if path[:end] in self.lines:
                return Problem(str(self.path), self.lines[path[:end]], format_field(path), message)
        return Problem(str(self.path), None, format_field(path), message)


def _validate(source: _Source) -> DigestConfig:
    try:
        config = DigestConfig.model_validate(source.data, context={LOCAL_FILES_ALLOWED: True})
    except ValidationError as exc:
        problems = [source.problem(tuple(error["loc"]), _describe(error)) for error in exc.errors()]
        raise ConfigError(source.problems + problems) from None
    if source.problems:
        raise ConfigError(source.problems)
    return config


def _describe(error: Any) -> str:
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        return "is not a known setting (check the spelling)"
    if error["type"] == "missing":
        return "is required"
    if error["type"] == "string_pattern_mismatch" and error["loc"][-1] in ("slug", "newsletter"):
        return f"{error['input']!r} is not a slug (lower-case letters, digits and hyphens)"
    return message


def load_config(path: str | Path, _extended_by: tuple[Path, ...] = ()) -> DigestConfig:
    """Read, validate and cross-check a config file (and the file it extends)."""
    path = Path(path)
    source = _Source(path)
    config = _validate(source)
    if config.extends:
        base_path = (path.parent / config.extends).resolve()
        if not base_path.exists():
            raise ConfigError([source.problem(("extends",), f"file {config.extends!r} not found")])
        chain = (*_extended_by, path.resolve())
        if base_path in chain:
            cycle = " → ".join(p.name for p in (*chain[chain.index(base_path) :], base_path))
            raise ConfigError(
                [source.problem(("extends",), f"the files extend each other in a circle: {cycle}")]
            )
        if len(chain) > MAX_EXTENDS:
            raise ConfigError(
                [source.problem(("extends",), f"more than {MAX_EXTENDS} files extend one another")]
            )
        base = load_config(base_path, chain)
        config.newsletters = base.newsletters + config.newsletters
        config.topics = base.topics + config.topics
        own = {t.name for t in config.transports}
        config.transports = [t for t in base.transports if t.name not in own] + config.transports
    config.resolve_local_paths(path.parent)
    problems = _cross_check(config, source)
    if problems:
        raise ConfigError(problems)
    return config


def _duplicates(names: list[str]) -> list[int]:
    seen: set[str] = set()
    repeated = []
    for index, name in enumerate(names):
        key = name.casefold()
        if key in seen:
            repeated.append(index)
        seen.add(key)
    return repeated


def _cross_check(config: DigestConfig, source: _Source) -> list[Problem]:
    """Checks that span entries: unique names, and references to newsletters, sections, topics."""
    problems: list[Problem] = []
    own_newsletters = source.data.get("newsletters") or []
    own_topics = source.data.get("topics") or []
    # Entries from an extended file come first; locate only this file's own entries.
    newsletter_offset = len(config.newsletters) - len(own_newsletters)
    topic_offset = len(config.topics) - len(own_topics)

    for index in _duplicates([n.slug for n in config.newsletters]):
        problems.append(
            source.problem(
                ("newsletters", index - newsletter_offset, "slug"),
                f"newsletter {config.newsletters[index].slug!r} is defined twice",
            )
        )
    for index in _duplicates([t.slug for t in config.topics]):
        problems.append(
            source.problem(
                ("topics", index - topic_offset, "slug"),
                f"topic {config.topics[index].slug!r} is defined twice",
            )
        )
    for index in _duplicates([f.name for f in config.feeds]):
        problems.append(
            source.problem(
                ("feeds", index, "name"), f"feed name {config.feeds[index].name!r} is used twice"
            )
        )

    topic_slugs = {t.slug for t in config.topics}
    for index, topic in enumerate(config.topics):
        if topic.parent and topic.parent not in topic_slugs:
            problems.append(
                source.problem(
                    ("topics", index - topic_offset, "parent"),
                    f"unknown parent topic {topic.parent!r}",
                )
            )
        if topic.parent == topic.slug:
            problems.append(
                source.problem(
                    ("topics", index - topic_offset, "parent"), "a topic cannot be its own parent"
                )
            )

    transports = {t.name for t in config.transports}
    for index, each in enumerate(config.newsletters[newsletter_offset:]):
        if each.transport and each.transport not in transports:
            problems.append(
                source.problem(
                    ("newsletters", index, "transport"),
                    f"unknown transport {each.transport!r} (known: "
                    f"{', '.join(sorted(transports)) or 'none'})",
                )
            )

    newsletters = {n.slug: n for n in config.newsletters}
    for index, feed in enumerate(config.feeds):
        newsletter = newsletters.get(feed.newsletter)
        if newsletter is None:
            problems.append(
                source.problem(
                    ("feeds", index, "newsletter"),
                    f"unknown newsletter {feed.newsletter!r} (known: "
                    f"{', '.join(sorted(newsletters)) or 'none'})",
                )
            )
        elif feed.section.casefold() not in {s.casefold() for s in newsletter.sections}:
            problems.append(
                source.problem(
                    ("feeds", index, "section"),
                    f"newsletter {newsletter.slug!r} has no section "
                    f"{feed.section!r} (it has: "
                    f"{', '.join(newsletter.sections)})",
                )
            )
        for topic_index, slug in enumerate(feed.topics):
            if slug not in topic_slugs:
                problems.append(
                    source.problem(
                        ("feeds", index, "topics", topic_index),
                        f"unknown topic {slug!r} in feed {feed.name!r}",
                    )
                )
    return problems
