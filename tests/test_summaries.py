"""Cleaning a feed's text for readers: boilerplate dropped (a table of real-shaped inputs),
summaries cut to one to three sentences at a sentence's end, and tracking parameters taken off
every link readers follow."""

from __future__ import annotations

import pytest

from digest.ingest.boilerplate import RULES, strip_boilerplate
from digest.ingest.sanitize import sanitize_html, sanitized_html_to_text
from digest.ingest.summaries import MAX_CHARS, sentences, shorten, summarised
from digest.ingest.urls import check_reader_link, without_tracking


def clean(fragment: str, base: str = "https://example.org/feed/") -> str:
    return strip_boilerplate(sanitize_html(fragment, base))


BOILERPLATE = [
    (  # WordPress's footer on every post
        "<p>Social workers say caseloads are rising.</p>\n<p>The post "
        '<a href="https://www.communitycare.co.uk/2026/11/20/caseloads/" rel="nofollow">Caseloads '
        'rise</a> appeared first on <a href="https://www.communitycare.co.uk">Community Care</a>.'
        "</p>",
        "<p>Social workers say caseloads are rising.</p>",
    ),
    (  # the same, in Welsh-language site names and with no paragraph around it
        "Newyddion da. The post <a href='https://example.cymru/p/1'>Plant ŵyr</a> appeared "
        "first on <a href='https://example.cymru'>Gwasanaeth Plant</a>.",
        "Newyddion da.",
    ),
    (  # ScienceDirect: details as paragraphs, the label in bold
        "<p>Publication date: Available online 19 November 2026</p>"
        "<p><b>Source:</b> Child Abuse &amp; Neglect, Volume 161</p>"
        "<p>Author(s): Jane Smith, 山田 花子</p><p>Background: neglect is common.</p>",
        "<p>Background: neglect is common.</p>",
    ),
    (  # ScienceDirect: the same as lines of one block
        "Publication date: March 2027<br/><b>Source:</b> Children and Youth Services Review, "
        "Volume 170<br/>Author(s): Rhodri ap Gwilym, Siân Jones",
        "",
    ),
    (  # anchors leading nowhere: no href, a fragment, javascript:, mailto:
        '<p><a name="top">Top</a> <a href="#section-2">Jump</a> <a href="javascript:alert(1)">'
        'Run</a> <a href="mailto:press@example.org">Press</a> <a href="/report.pdf">Report</a></p>',
        '<p>Top Jump Run Press <a href="https://example.org/report.pdf" '
        'rel="noopener noreferrer nofollow">Report</a></p>',
    ),
    (  # empty paragraphs, as editors leave them
        "<p>One.</p><p>&nbsp;</p><p> </p><p><br></p><p>Two.</p>",
        "<p>One.</p><p>Two.</p>",
    ),
    (  # text that merely mentions the words stays
        "<p>The post office appeared on the list. Source code is published.</p>",
        "<p>The post office appeared on the list. Source code is published.</p>",
    ),
]


@pytest.mark.parametrize(("given", "kept"), BOILERPLATE)
def test_feed_boilerplate_is_dropped_and_the_text_kept(given: str, kept: str) -> None:
    assert clean(given) == kept


def test_every_boilerplate_rule_has_a_name() -> None:
    assert len({rule.name for rule in RULES}) == len(RULES)


SENTENCES = [
    ("One. Two! Three? Four.", ["One.", "Two!", "Three?", "Four."]),
    ("Dr. Smith met Mrs. Jones, e.g. at St. Mary’s. Then they left.", 2),
    ("The rise was 3.5 per cent. It was 12.25 in 2024.", 2),
    ("J. R. Hartley and A. N. Other wrote it. Vol. 3 is out.", 2),
    ("It was good (i.e. better than before). “Really,” she said.", 2),
    ("Children in the U.K. are safer. But not everywhere.", 2),
    ("Wait… there is more. Much more.", 2),
    ("子どもの安全。新しい報告書が出ました！本当ですか？", 3),
    ("Mae’r adroddiad yn dweud hyn. Ŵyr a wyres. Éléonore a dit non.", 3),
    ("no capital after this. so it goes on", 1),
]


@pytest.mark.parametrize(("text", "expected"), SENTENCES)
def test_sentences_end_where_a_reader_would_say(text: str, expected: list[str] | int) -> None:
    found = sentences(text)
    if isinstance(expected, int):
        assert len(found) == expected, found
    else:
        assert found == expected


LONG = (
    "Referrals reached a record high last year, e.g. from schools. Dr. Hassan said the rise of "
    "3.5% was driven by neglect. Practitioners said caseloads were unmanageable. The "
    "Department said it would respond in the new year, and that reforms were under way in "
    "many of the pathfinder areas across England and Wales."
)


def test_a_long_text_is_cut_to_whole_sentences_within_the_limit() -> None:
    short = shorten(LONG)
    assert short == (
        "Referrals reached a record high last year, e.g. from schools. Dr. Hassan said the "
        "rise of 3.5% was driven by neglect. Practitioners said caseloads were unmanageable."
    )
    assert len(short) <= MAX_CHARS


def test_no_more_than_three_sentences_even_when_short() -> None:
    assert shorten("One. Two. Three. Four. Five.") == "One. Two. Three."


def test_a_first_sentence_over_the_limit_is_cut_at_a_word_with_an_ellipsis() -> None:
    text = "Ŵ " + "safeguarding " * 40
    short = shorten(text)
    assert len(short) <= MAX_CHARS and short.endswith("safeguarding…")


def test_a_short_summary_keeps_its_links_and_a_long_one_becomes_plain_sentences() -> None:
    html = '<p>Short, with a <a href="https://example.org/x">link</a>.</p>'
    assert summarised(html, sanitized_html_to_text(html)) == (html, "Short, with a link.")
    long_html = f"<p>{LONG} &lt;b&gt;</p>"
    made, text = summarised(long_html, sanitized_html_to_text(long_html))
    assert made.startswith("<p>Referrals reached") and made.endswith("unmanageable.</p>")
    assert text == sanitized_html_to_text(made)  # the text is the summary's, not worked out again


TRACKED = [
    ("https://example.org/a?utm_source=rss&utm_medium=feed", "https://example.org/a"),
    ("https://example.org/a?id=7&utm_campaign=x#part", "https://example.org/a?id=7#part"),
    ("https://example.org/a?fbclid=IwAR0&gclid=1&mc_cid=2&mc_eid=3", "https://example.org/a"),
    ("https://example.org/a?UTM_Source=x&q=caf%C3%A9", "https://example.org/a?q=caf%C3%A9"),
    ("https://example.org/a?q=a+b&utm_term=x&page=2", "https://example.org/a?q=a+b&page=2"),
    ("https://example.org/a?utmost=1", "https://example.org/a?utmost=1"),
    ("https://www.sciencedirect.com/science/article/pii/S01?dgcid=rss_sd_all", None),
    ("https://example.org/plain", "https://example.org/plain"),
]


@pytest.mark.parametrize(("link", "clean_link"), TRACKED)
def test_tracking_parameters_are_taken_off_and_the_rest_left_as_written(
    link: str, clean_link: str | None
) -> None:
    expected = clean_link or link.partition("?")[0]
    assert without_tracking(link) == expected
    assert check_reader_link(link).link == expected  # every stored item link goes through it


def test_links_inside_a_summary_lose_their_tracking_parameters_too() -> None:
    cleaned = clean('<p><a href="/r?utm_source=rss&amp;id=1">Report</a></p>')
    assert 'href="https://example.org/r?id=1"' in cleaned
