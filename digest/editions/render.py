"""The email of an edition: rendered once per distinct cut of topics, then personalised.

A subscriber's cut is the items carrying one of their topics (all items when they chose
none). Everything but the links and name is the same for everyone with the same cut, so it is
rendered and CSS-inlined once, with placeholders for the per-subscriber parts. The placeholders
are made afresh, unguessable, for each render: content (a feed item's title, summary or link)
could otherwise hold one, and have a subscriber's links and name put into it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import css_inline
from jinja2 import Environment, FileSystemLoader, select_autoescape

from digest.editions.compose import PREHEADER_CHARS, snapshot
from digest.editions.groups import grouped
from digest.ingest.urls import reader_link
from digest.models import Edition
from digest.wording import install_filters

TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "email"
HTML_BUDGET = 90 * 1024  # Gmail clips at about 102 KB, taking the footer with it
# What differs per subscriber: their links, name, address and the day they subscribed.
PERSONAL = ("unsubscribe_url", "preferences_url", "name", "email", "subscribed_on")
DEFAULT_COLOUR = "#0b3d6b"  # the masthead's, when the newsletter names none (9.9:1 with white)
_environment = Environment(
    loader=FileSystemLoader(str(TEMPLATES)),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
# Defence in depth: whatever was stored, or frozen in an edition before links were checked on
# the way in, an href only ever gets an http(s) link.
_environment.filters["reader_link"] = reader_link
install_filters(_environment)  # dates and counts as the web pages write them
_inliner = css_inline.CSSInliner(keep_style_tags=True)  # media queries stay in <style>


def preheader(edition: Edition) -> str:
    """The preview line after the subject: the editor's, else the introduction's first line."""
    if edition.preheader and edition.preheader.strip():
        return edition.preheader.strip()
    first = next((line.strip() for line in (edition.intro or "").splitlines() if line.strip()), "")
    return first[:PREHEADER_CHARS]


def site_of(archive_url: str) -> str:
    """The public site's address, from an edition's archive address (`message.archive_url`)."""
    return archive_url.rsplit("/archive/", 1)[0]


def logo_url(logo: str | None, site: str) -> str | None:
    """A configured logo as an address a mail program can load: a static file's is absolute."""
    if not logo:
        return None
    return logo if "://" in logo else f"{site}/static/{logo}"


def escape_for_html(value: str) -> str:
    """`value` escaped exactly as the CSS inliner's HTML serialiser writes text, so that a
    personalised copy is byte for byte what rendering for that subscriber would give. (Only
    names reach text; links are URL-safe, so the same escaping suits their attributes.)"""
    return (
        value.replace("&", "&amp;")
        .replace("\xa0", "&nbsp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
    )


def new_placeholders() -> dict[str, str]:
    """Stand-ins for the personal parts, with 128 random bits no content can know in advance.
    (Letters, digits and hyphens: HTML escaping and CSS inlining leave them as they are.)"""
    nonce = secrets.token_hex(16)
    return {key: f"DIGEST-{nonce}-{key.upper().replace('_', '-')}" for key in PERSONAL}


@dataclass(frozen=True)
class RenderedCut:
    html: str
    text: str
    item_count: int
    placeholders: dict[str, str] = field(default_factory=dict)  # personal key: its stand-in

    def personalise(self, values: dict[str, str]) -> tuple[str, str]:
        """HTML and text for one subscriber: placeholders replaced (escaped for HTML)."""
        page, text = self.html, self.text
        for key, placeholder in self.placeholders.items():
            page = page.replace(placeholder, escape_for_html(values[key]))
            text = text.replace(placeholder, values[key])
        return page, text


def entries(edition: Edition) -> list[dict[str, Any]]:
    """The edition's items as subscribers read them: frozen once approved, live in a draft; a
    link readers may not follow (frozen before links were checked) left out."""
    items = [entry.frozen or snapshot(entry.item, entry.placement) for entry in edition.entries]
    return [{**item, "link": reader_link(item.get("link"))} for item in items]


def cut(items: list[dict[str, Any]], topics: frozenset[str] | None) -> list[dict[str, Any]]:
    """The items carrying one of `topics` (None or empty: every item). For a subscriber,
    `topics` is what they chose with every topic below it (`curation.topics.with_descendants`)."""
    if not topics:
        return items
    return [item for item in items if topics & set(item["topics"])]


def _template(newsletter_slug: str, kind: str) -> Any:
    return _environment.select_template(
        [f"{newsletter_slug}/edition.{kind}", f"default/edition.{kind}"]
    )


def render_cut(
    edition: Edition,
    topics: frozenset[str] | None,
    archive_url: str,
    values: dict[str, str] | None = None,
) -> RenderedCut:
    """The edition for one cut (`topics` as for `cut`), with placeholders for the personal parts
    (or, given `values`, with those filled in directly: the slow way, one per subscriber)."""
    return render_items(edition, cut(entries(edition), topics), archive_url, values)


def render_items(
    edition: Edition,
    chosen: list[dict[str, Any]],
    archive_url: str,
    values: dict[str, str] | None = None,
) -> RenderedCut:
    """The edition's email with just the `chosen` items (a cut)."""
    placeholders = new_placeholders() if values is None else {}
    context = {
        "edition": edition,
        "newsletter": edition.newsletter,
        "sections": grouped(chosen),
        "nothing_matched": not chosen,
        "archive_url": archive_url,
        "preheader": preheader(edition),
        "colour": edition.newsletter.colour or DEFAULT_COLOUR,
        "logo_url": logo_url(edition.newsletter.logo, site_of(archive_url)),
        **(placeholders if values is None else {k: values[k] for k in PERSONAL}),
    }
    slug = edition.newsletter.slug
    page = _inliner.inline(_template(slug, "html").render(context))
    text = _template(slug, "txt").render(context)
    return RenderedCut(page, text, len(chosen), placeholders)


def full_size(edition: Edition, archive_url: str) -> int:
    """Bytes of HTML in the whole edition (the largest cut), to check against HTML_BUDGET."""
    return len(render_cut(edition, None, archive_url).html.encode())


def over_budget_warning(size: int) -> str | None:
    if size <= HTML_BUDGET:
        return None
    return (
        f"the full email is {size / 1024:.1f} KB of HTML, over the {HTML_BUDGET // 1024} KB "
        "budget: Gmail may clip it and hide the unsubscribe link"
    )
