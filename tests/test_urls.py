"""Canonical URLs: the same address always gets the same spelling."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.provisional import urls

from digest.ingest.urls import canonicalize_url, is_tracking_parameter


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        (
            "HTTPS://WWW.GOV.UK:443/Guidance?utm_source=rss&utm_medium=feed#top",
            "https://www.gov.uk/Guidance",
        ),
        ("http://example.org:80", "http://example.org/"),
        (
            "http://example.org:8080/a?id=3&fbclid=abc&gclid=x&mc_cid=1&mc_eid=2",
            "http://example.org:8080/a?id=3",
        ),
        ("https://example.org/a?b=2&a=1", "https://example.org/a?b=2&a=1"),
        ("  https://example.org/report.pdf  ", "https://example.org/report.pdf"),
        ("mailto:library@example.org", "mailto:library@example.org"),
    ],
)
def test_examples(raw: str, canonical: str) -> None:
    assert canonicalize_url(raw) == canonical


tracking = st.sampled_from(
    ["utm_source", "utm_campaign", "UTM_Medium", "fbclid", "gclid", "mc_cid", "mc_eid", "msclkid"]
)
plain_name = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8).filter(
    lambda name: not is_tracking_parameter(name)
)
value = st.text(alphabet="abcxyz0123456789-_", max_size=8)


@given(urls())
def test_canonicalisation_is_idempotent(url: str) -> None:
    once = canonicalize_url(url)
    assert canonicalize_url(once) == once


@given(
    urls(),
    st.lists(st.tuples(tracking, value), min_size=1, max_size=4),
    st.lists(st.tuples(plain_name, value), max_size=3),
)
def test_tracking_parameters_are_removed_and_others_kept(url: str, tracked, kept) -> None:
    base = url.split("#")[0].split("?")[0]
    mixed = tracked + kept
    query = "&".join(f"{k}={v}" for k, v in mixed)
    canonical = canonicalize_url(f"{base}?{query}#section")
    parts = urlsplit(canonical)
    names = [name for name, _ in parse_qsl(parts.query, keep_blank_values=True)]
    assert not any(is_tracking_parameter(n) for n in names)
    assert names == [k for k, _ in kept]
    assert parts.fragment == ""
    assert parts.netloc == parts.netloc.lower() or "@" in parts.netloc
