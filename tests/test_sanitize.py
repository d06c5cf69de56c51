"""Feed HTML is cleaned from an allowlist before anyone sees it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from digest.ingest.sanitize import html_to_text, sanitize_html, sanitized_html_to_text

BASE = "https://www.gov.uk/government/publications/feed"


HOSTILE = (
    '<p onclick="steal()" style="color:red" class="x">Read <b>this</b>'
    "<script>alert(1)</script><style>p{}</style></p>"
    '<a href="javascript:alert(1)">click</a><a href="data:text/html,hi">data</a>'
    '<iframe src="https://evil.example"></iframe><object data="x.swf"></object>'
    '<form action="https://evil.example"><input name="q"></form>'
    '<img src="x.png" onerror="steal()" alt="chart">'
)


@pytest.mark.parametrize(
    "forbidden",
    [
        "script",
        "alert",
        "style",
        "onclick",
        "onerror",
        "javascript:",
        "data:",
        "iframe",
        "object",
        "form",
        "input",
        "class=",
    ],
)
def test_hostile_markup_is_removed(forbidden: str) -> None:
    assert forbidden not in sanitize_html(HOSTILE, BASE)


def test_the_harmless_markup_around_hostile_markup_is_kept() -> None:
    clean = sanitize_html(HOSTILE, BASE)
    assert "<b>this</b>" in clean
    assert '<img src="https://www.gov.uk/government/publications/x.png" alt="chart">' in clean


def test_relative_links_become_absolute() -> None:
    clean = sanitize_html('<a href="/guidance/working-together">Guidance</a>', BASE)
    assert 'href="https://www.gov.uk/guidance/working-together"' in clean
    assert 'rel="noopener noreferrer nofollow"' in clean


def test_tracking_pixels_are_dropped() -> None:
    clean = sanitize_html(
        '<p>Text<img src="https://pixel.example.com/t.gif" width="1" height="1">'
        '<img src="https://feeds.feedburner.com/~r/x/~4/abc"><img src="chart.png" width="600">'
        "</p>",
        BASE,
    )
    assert "pixel.example.com" not in clean and "feedburner" not in clean
    assert "chart.png" in clean


def test_plain_text_keeps_word_boundaries() -> None:
    text = html_to_text(
        "<p>First&nbsp;paragraph.</p><p>Second &amp; last.</p><ul><li>One</li><li>Two</li></ul>"
    )
    assert text == "First paragraph. Second & last. One Two"


html_fragments = st.lists(
    st.one_of(
        st.text(alphabet='ab <>&"=/\n', max_size=12),
        st.sampled_from(
            [
                "<p>",
                "</p>",
                '<a href="/x?a=1&amp;b=2" title="a>b">',
                "</a>",
                "<br>",
                "<li>",
                "</li>",
                "<script>x</script>",
                "&nbsp;",
                "&lt;b&gt;",
                '<img src="p.png" alt="a &quot;b&quot;">',
                "<!-- c -->",
                "<h2>",
            ]
        ),
    ),
    max_size=12,
).map("".join)


@given(html_fragments)
def test_fast_text_of_sanitized_html_matches_the_careful_one(fragment: str) -> None:
    cleaned = sanitize_html(fragment, BASE)
    assert sanitized_html_to_text(cleaned) == html_to_text(cleaned)
