"""Hostile or careless config files: refused with one clear line per problem and exit status 2,
at a bounded cost, before anything is written."""

from __future__ import annotations

import os
import time
import tracemalloc
from pathlib import Path

import pytest
from click.testing import CliRunner

from digest.cli import cli
from digest.config import ConfigError, load_config

GOOD = """\
newsletters:
  - slug: caspar
    title: CASPAR
    sections: [Policy, News]
    from_address: "CASPAR <caspar@digest.test>"
    reply_to: library@digest.test
topics:
  - slug: neglect
    label: Neglect
feeds:
  - name: DfE
    url: https://www.gov.uk/government/organisations/department-for-education.atom
    newsletter: caspar
    section: Policy
transports:
  - name: bulk
    url: "smtp://mail.digest.test:587"
    dkim: {domain: digest.test, selector: weekly, key_file: dkim.pem}
"""


def write(tmp_path: Path, text: str, name: str = "feeds.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return [str(p).replace(str(path.parent) + "/", "") for p in caught.value.problems]


def check(path: Path):
    return CliRunner().invoke(cli, ["--config", str(path), "config", "check"])


# (the text in GOOD, what replaces it, the field named in the error)
HEADER_FIELDS = [
    ("title: CASPAR", 'title: "CASPAR{}Bcc: victim@example.net"', "newsletters[0].title"),
    (
        'from_address: "CASPAR <',
        'from_address: "CASPAR{}Bcc: victim@example.net <',
        "newsletters[0].from_address",
    ),
    ("reply_to: library@", 'reply_to: "library{}@', "newsletters[0].reply_to"),
    ("sections: [Policy, News]", 'sections: [Policy, "News{}x"]', "newsletters[0].sections[1]"),
    ("label: Neglect", 'label: "Neg{}lect"', "topics[0].label"),
    ("name: DfE", 'name: "DfE{}x"', "feeds[0].name"),
    ("domain: digest.test", 'domain: "digest.test{}x"', "transports[0].dkim.domain"),
    ('url: "smtp://mail', 'url: "smtp://{}mail', "transports[0].url"),
]
BREAKERS = {"CRLF": "\\r\\n", "LF": "\\n", "NEL": "\\x85", "LS": "\\u2028", "NUL": "\\0"}


@pytest.mark.parametrize("breaker", BREAKERS.values(), ids=BREAKERS.keys())
@pytest.mark.parametrize(
    ("old", "new", "field"), HEADER_FIELDS, ids=[f for _, _, f in HEADER_FIELDS]
)
def test_a_control_character_in_a_one_line_setting_is_refused_naming_the_field(
    tmp_path: Path, old: str, new: str, field: str, breaker: str
) -> None:
    assert old in GOOD
    text = GOOD.replace(old, new.format(breaker), 1)
    if new.startswith("reply_to"):
        text = text.replace("digest.test\n", 'digest.test"\n', 1)
    (found,) = problems(write(tmp_path, text))
    assert found.startswith("feeds.yaml:")
    assert f": {field}: holds a control character (U+" in found
    assert "must be one line of text" in found


def test_the_cli_refuses_a_title_with_a_line_break_with_exit_2(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("title: CASPAR", 'title: "CASPAR\\r\\nBcc: x@y.z"'))
    result = check(path)
    assert result.exit_code == 2
    assert "newsletters[0].title: holds a control character (U+000D)" in result.output


def test_a_block_scalar_title_ending_in_a_line_break_is_still_one_line(tmp_path: Path) -> None:
    """YAML's `>` keeps a final line break; like other ends-of-text spaces it is dropped."""
    config = load_config(write(tmp_path, GOOD.replace("title: CASPAR", "title: >\n      CASPAR")))
    assert config.newsletters[0].title == "CASPAR"


def _laughs(levels: int = 9) -> str:
    """A "billion laughs": 9 aliases of 9 aliases ..., a few hundred bytes for 9**9 values."""
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, levels):
        lines.append(f"a{level}: &a{level} [" + ",".join([f"*a{level - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def _nested(levels: int, inner: str = "") -> str:
    return "[" * levels + inner + "]" * levels


HOSTILE_YAML = {
    "billion laughs": _laughs(),
    "billion laughs beside real settings": _laughs().replace("a", "x-a") + GOOD,
    "nested 100,000 deep": f"newsletters: {_nested(100_000)}\n",
    "a mapping nested 2,000 deep": "a:\n" + "".join(f"{' ' * n}k{n}:\n" for n in range(1, 2000)),
    "an alias inside its own block": "newsletters: &loop [*loop]\n",
    "aliases nesting each other deeper": f"a0: &a0 {_nested(40)}\n"
    + "".join(f"a{n}: &a{n} {_nested(40, f'*a{n - 1}')}\n" for n in range(1, 30)),
}


@pytest.mark.alone
@pytest.mark.parametrize("text", HOSTILE_YAML.values(), ids=HOSTILE_YAML.keys())
def test_hostile_yaml_is_refused_in_one_line_quickly_and_small(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    tracemalloc.start()
    started = time.perf_counter()
    try:
        result = check(path)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output and "RecursionError" not in result.output
    assert f"{path}:" in result.output and "not valid YAML" in result.output
    assert elapsed < 5, f"took {elapsed:.1f} s"
    assert peak < 200 * 2**20, f"peak memory {peak / 2**20:.0f} MiB"


def test_aliases_within_the_limits_are_allowed(tmp_path: Path) -> None:
    second = (
        "  - name: Second\n    url: https://example.org/feed.xml\n    newsletter: caspar\n"
        "    section: News\n    topics: *shared\n"
    )
    text = GOOD.replace(
        "    section: Policy\n", "    section: Policy\n    topics: &shared [neglect]\n"
    )
    config = load_config(write(tmp_path, text.replace("transports:", second + "transports:")))
    assert [f.topics for f in config.feeds] == [["neglect"], ["neglect"]]


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"feeds.yaml": "feeds.yaml"}, "feeds.yaml → feeds.yaml"),
        ({"feeds.yaml": "b.yaml", "b.yaml": "feeds.yaml"}, "feeds.yaml → b.yaml → feeds.yaml"),
        (
            {"feeds.yaml": "b.yaml", "b.yaml": "c.yaml", "c.yaml": "b.yaml"},
            "b.yaml → c.yaml → b.yaml",
        ),
    ],
    ids=["itself", "A-B-A", "A-B-C-B"],
)
def test_files_extending_each_other_in_a_circle_are_refused(
    tmp_path: Path, files: dict[str, str], expected: str
) -> None:
    for name, extends in files.items():
        write(tmp_path, f"extends: {extends}\n", name)
    result = check(tmp_path / "feeds.yaml")
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)
    assert f"extends: the files extend each other in a circle: {expected}" in result.output
    assert "Traceback" not in result.output


def test_a_long_chain_of_extends_is_refused(tmp_path: Path) -> None:
    for n in range(20):
        write(tmp_path, f"extends: f{n + 1}.yaml\n", f"f{n}.yaml")
    write(tmp_path, GOOD, "f20.yaml")
    result = check(tmp_path / "f0.yaml")
    assert result.exit_code == 2 and "more than 8 files extend one another" in result.output


def named_pipe(tmp_path: Path) -> Path:
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    return fifo


def link_to_a_device(tmp_path: Path) -> Path:
    (tmp_path / "dev.yaml").symlink_to("/dev/zero")
    return tmp_path / "dev.yaml"


# (makes the path in a fresh folder, what the error calls it)
NOT_REGULAR = {
    "named pipe": (named_pipe, "a named pipe"),
    "link to a device": (link_to_a_device, "a device"),
    "directory": (lambda tmp_path: tmp_path, "a directory"),
    "device": (lambda tmp_path: Path("/dev/zero"), "a device"),
}


@pytest.mark.parametrize(("make", "kind"), NOT_REGULAR.values(), ids=NOT_REGULAR.keys())
def test_a_config_path_that_is_no_regular_file_is_refused_without_waiting(
    tmp_path: Path, make, kind: str
) -> None:
    path = make(tmp_path)
    result = check(path)
    assert result.exit_code == 2, (path, result.output)
    assert f"is {kind}, not a regular file" in result.output


def test_a_config_extending_a_named_pipe_is_refused_without_waiting(tmp_path: Path) -> None:
    named_pipe(tmp_path)
    write(tmp_path, "extends: fifo.yaml\n", "extends-fifo.yaml")
    result = check(tmp_path / "extends-fifo.yaml")
    assert result.exit_code == 2 and "a named pipe, not a regular file" in result.output
