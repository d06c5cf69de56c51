"""Who a newsletter speaks as, from `feeds.yaml`: organisation, postal address, colour and logo
per newsletter and a publisher per feed; each checked with a reason a person can act on, and
loaded into the database."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from digest.config import ConfigError, load_config, sync_config
from digest.config.identity import AA_CONTRAST, check_logo, contrast_with_white, darkened
from digest.db import transaction
from digest.models import Feed, Newsletter

BASE = """\
newsletters:
  - slug: caspar
    title: CASPAR
    sections: [News]
    from_address: caspar@digest.test
{extra}
feeds:
  - name: Community Care (RSS)
    url: https://www.communitycare.co.uk/feed/
    newsletter: caspar
    section: News
{feed_extra}
"""


def config_with(tmp_path: Path, extra: str = "", feed_extra: str = "") -> Path:
    path = tmp_path / "feeds.yaml"
    path.write_text(BASE.format(extra=extra, feed_extra=feed_extra), encoding="utf-8")
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return [str(p) for p in caught.value.problems]


def test_the_new_keys_are_read_and_synced(tmp_path, factory) -> None:
    path = config_with(
        tmp_path,
        "    organisation: Llyfrgell Plant — Children’s Library\n"
        "    postal_address: |\n      Tŷ Gwyn, 1 Heol y Frenhines\n      Caerdydd CF10 1AA\n"
        '    colour: "#0B3D6B"\n'
        "    logo: https://cdn.example.org/logo.png",
        "    publisher: Community Care",
    )
    config = load_config(path)
    with transaction(factory) as session:
        sync_config(session, config)
    with factory() as session:
        newsletter = session.scalar(select(Newsletter).where(Newsletter.slug == "caspar"))
        assert newsletter.organisation == "Llyfrgell Plant — Children’s Library"
        assert newsletter.postal_address == "Tŷ Gwyn, 1 Heol y Frenhines\nCaerdydd CF10 1AA"
        assert newsletter.colour == "#0b3d6b" and newsletter.logo.startswith("https://")
        feed = session.scalar(select(Feed).where(Feed.name == "Community Care (RSS)"))
        assert feed.publisher == "Community Care"
    # Taken out of the file, they are taken out of the database.
    with transaction(factory) as session:
        sync_config(session, load_config(config_with(tmp_path)))
    with factory() as session:
        newsletter = session.scalar(select(Newsletter).where(Newsletter.slug == "caspar"))
        assert newsletter.organisation is newsletter.colour is None
        assert session.scalar(select(Feed.publisher).where(Feed.name.like("Community%"))) is None


BAD = [
    ('    colour: "#fff000"', "too light for the white text", "#"),
    ('    colour: "#ff7f50"', "contrast 2.", "passes"),
    ('    colour: "blue"', "is not a CSS hex colour", None),
    ('    colour: "#12345g"', "is not a CSS hex colour", None),
    ("    logo: http://cdn.example.org/logo.png", "must start with https://", None),
    ("    logo: javascript:alert(1)", "must be a", None),
    ("    logo: ../../etc/passwd.png", "inside the web app's static folder", None),
    ("    logo: /etc/logo.png", "inside the web app's static folder", None),
    ("    logo: logos/missing.png", "no such file", None),
    ("    logo: app.css", "must be a", None),
    ('    organisation: "Line one\\nLine two"', "control character", None),
    ("    postal_address: ''", "at least 1 character", None),
]


@pytest.mark.parametrize(("line", "said", "also"), BAD)
def test_a_bad_identity_is_refused_with_its_line_and_reason(tmp_path, line, said, also) -> None:
    found = problems(config_with(tmp_path, line))
    assert len(found) == 1 and ":6: newsletters[0]." in found[0], found
    assert said in found[0]
    if also:
        assert also in found[0]


def test_a_refused_colour_is_offered_a_darker_shade_that_passes(tmp_path) -> None:
    (problem,) = problems(config_with(tmp_path, '    colour: "#4a90e2"'))
    shade = problem.rsplit("such as ", 1)[1].split()[0]
    assert contrast_with_white(shade) >= AA_CONTRAST
    assert shade == darkened("#4a90e2")
    load_config(config_with(tmp_path, f'    colour: "{shade}"'))  # and the file then loads


def test_a_publisher_must_be_one_line(tmp_path) -> None:
    (problem,) = problems(config_with(tmp_path, feed_extra='    publisher: "A\\u2028B"'))
    assert "feeds[0].publisher" in problem and "control character" in problem


def test_a_logo_under_the_static_folder_is_accepted(tmp_path) -> None:
    (tmp_path / "logos").mkdir()
    (tmp_path / "logos" / "caspar.png").write_bytes(b"\x89PNG\r\n")
    assert check_logo("logos/caspar.png", tmp_path) == "logos/caspar.png"
