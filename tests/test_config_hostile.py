"""Hostile or careless config files: refused with one clear line per problem and exit status 2,
at a bounded cost, before anything is written."""

from __future__ import annotations

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
