"""Writes the labelled set of journal-shaped feeds that `identify.py` measures Digest against.

Each feed takes the shape one publisher's table-of-contents feed has: Wiley's and SAGE's and
Taylor & Francis's RSS 1.0 (Atypon, with `prism:doi` and `dc:identifier`), Elsevier's
ScienceDirect RSS (a PII, not a DOI), Springer's RSS (link.springer.com/10.1007/…), PubMed's
RSS (`pubmed:` guids, PMID and DOI in `dc:identifier` and the description), Oxford Academic's
and BMJ's (mostly no DOI at all), a JSON Feed, and a practice blog whose posts cite others'
DOIs. Every entry is labelled with its true DOI (or none), whether the feed carries it at all,
and its PMID. The files are committed; this writes them again the same way.

    python benchmarks/identify_data.py
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.sax.saxutils import escape

FOLDER = Path(__file__).resolve().parent / "data" / "identify"
START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)

TOPICS = [
    "kinship care in Ceredigion",
    "adolescent neglect",
    "foster carers’ wellbeing",
    "online grooming",
    "care leavers’ housing",
    "child protection conferences",
    "Jugendhilfe in Bayern",
    "protection de l’enfance",
    "residential care in Gwynedd — Cymru",
    "児童虐待の予防",
    "early help services",
    "domestic abuse and children",
    "social workers’ caseloads",
    "adoption support",
    "special guardianship",
]
METHODS = ["a cohort study", "a qualitative study", "a systematic review", "a survey", "a trial"]


@dataclass
class Label:
    feed: str  # the file
    key: str  # the entry's guid, else its link
    title: str
    doi: str | None  # its true DOI, lower-case
    doi_in_feed: bool  # whether the feed carries it anywhere
    pmid: str | None


def title(n: int, journal: str) -> str:
    topic = TOPICS[n % len(TOPICS)]
    method = METHODS[(n // len(TOPICS)) % len(METHODS)]
    return f"{topic.capitalize()}: {method} ({journal} {n})"


def abstract(n: int, journal: str) -> str:
    topic = TOPICS[(n * 7) % len(TOPICS)]
    return (
        f"<p><b>Background</b>: Little is known about {topic} in {journal}. "
        f"<b>Methods</b>: We studied {40 + n} families — including Siân’s and José’s. "
        f"<b>Findings</b>: Outcomes improved for {n % 9 + 1} in ten children. "
        "<b>Conclusions</b>: Services should plan for it.</p>"
    )


def date(n: int) -> datetime:
    return START - timedelta(hours=7 * n)


def rdf(journal: str, items: list[str]) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
        'xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
        'xmlns:prism="http://prismstandard.org/namespaces/basic/2.0/">\n'
        f'<channel rdf:about="https://example.org/{escape(journal)}">'
        f"<title>{escape(journal)}: Table of Contents</title>"
        "<link>https://example.org/</link><description>Table of Contents</description>"
        "</channel>\n" + "\n".join(items) + "\n</rdf:RDF>\n"
    )


def rss(journal: str, items: list[str]) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
        'xmlns:prism="http://prismstandard.org/namespaces/basic/2.0/"><channel>'
        f"<title>{escape(journal)}</title><link>https://example.org/</link>"
        "<description>Latest articles</description>\n" + "\n".join(items) + "\n</channel></rss>\n"
    )


def tag(name: str, value: str | None) -> str:
    return f"<{name}>{escape(value)}</{name}>" if value else ""


def atypon(
    file: str, journal: str, prefix: str, count: int, describe, with_metadata, cites=()
) -> tuple[str, list[Label]]:
    """Wiley's, SAGE's and T&F's RSS 1.0: the DOI in the link, and (`with_metadata(n)`) in
    `dc:identifier` and `prism:doi`; `describe(n, doi)` is the description."""
    items, labels = [], []
    for n in range(count):
        doi = f"{prefix}{n:03d}"
        link = f"https://{host(prefix)}/doi/{'abs/' if n % 3 else ''}{doi}?af=R"
        text = abstract(n, journal)
        if n in cites:  # a review: its abstract cites two other works by DOI
            text += (
                f"<p>See doi:10.1016/j.chiabu.2019.10{n:04d} and "
                f'<a href="https://doi.org/10.1177/0886260518{n:06d}">this trial</a>.</p>'
            )
        metadata = with_metadata(n)
        items.append(
            f'<item rdf:about="{escape(link)}">'
            + tag("title", title(n, journal))
            + tag("link", link)
            + tag("description", describe(n, doi))
            + f"<content:encoded><![CDATA[{text}]]></content:encoded>"
            + tag("dc:creator", "Owen, Siân; Müller, Jörg")
            + tag("dc:date", date(n).isoformat())
            + (tag("dc:identifier", f"doi:{doi}") + tag("prism:doi", doi) if metadata else "")
            + (tag("prism:url", link) if metadata else "")
            + tag("prism:publicationName", journal)
            + "</item>"
        )
        labels.append(Label(file, link, title(n, journal), doi.lower(), True, shared_pmid(doi)))
    return rdf(journal, items), labels


def shared_pmid(doi: str) -> str | None:
    """The PMID of a Wiley article PubMed's feed also has (which gives it to the item)."""
    n = int(doi[-3:]) if doi.startswith("10.1111/cfs.13") else SHARED_WITH_WILEY
    return pubmed_id(n) if n < SHARED_WITH_WILEY else None


def pubmed_id(n: int) -> str:
    return str(41200000 + n * 37)


def host(prefix: str) -> str:
    return {
        "10.1111": "onlinelibrary.wiley.com",
        "10.1177": "journals.sagepub.com",
        "10.1080": "www.tandfonline.com",
    }[prefix.split("/")[0]]


def wiley() -> tuple[str, list[Label]]:
    journal = "Child & Family Social Work"
    return atypon(
        "wiley_cfs.rdf",
        journal,
        "10.1111/cfs.13",
        30,
        lambda n, doi: f"{journal}, EarlyView. ",
        lambda n: True,
        cites={2, 9, 17},
    )


def sage() -> tuple[str, list[Label]]:
    journal = "Child Maltreatment"
    return atypon(
        "sage_cm.rdf",
        journal,
        "10.1177/10775595231170",
        25,
        lambda n, doi: f"{journal}, Ahead of Print. <br/>",
        lambda n: n < 15,  # the rest give the DOI in their link alone
        cites={4},
    )


def tandf() -> tuple[str, list[Label]]:
    journal = "Child Care in Practice"
    return atypon(
        "tandf_ccp.rdf",
        journal,
        "10.1080/13575279.2026.2190",
        25,
        lambda n, doi: (
            f"Volume 32, Issue {n % 4 + 1}, November 2026, Page {n * 10 + 1}-{n * 10 + 9}<br/>. "
        ),
        lambda n: n % 5 != 0,
    )


def wiley_legacy() -> tuple[str, list[Label]]:
    """An older Wiley feed in RSS 2.0: the DOI at the end of the description, after the
    abstract, and (for half) a link to a society's page that carries none."""
    journal = "Child Abuse Review"
    file, items, labels = "wiley_car.xml", [], []
    for n in range(20):
        doi = f"10.1002/car.2{n:03d}"
        link = (
            f"https://onlinelibrary.wiley.com/doi/{doi}/abstract"
            if n % 2
            else f"https://www.baspcan.org.uk/journal/articles/{n}"
        )
        description = abstract(n, journal) + f"<p>{journal}, 35, e{n}. doi:{doi.upper()}</p>"
        items.append(
            "<item>"
            + tag("title", title(n, journal))
            + tag("link", link)
            + tag("description", description)
            + tag("pubDate", date(n).strftime("%a, %d %b %Y %H:%M:%S +0000"))
            + "</item>"
        )
        labels.append(Label(file, link, title(n, journal), doi, True, None))
    return rss(journal, items), labels


def elsevier() -> tuple[str, list[Label]]:
    """ScienceDirect: the link and guid carry a PII; the description is the "Publication
    date / Source / Author(s)" block, which for some articles ends with the DOI."""
    journal = "Child Abuse & Neglect"
    file, items, labels = "elsevier_chiabu.xml", [], []
    for n in range(30):
        pii = f"S01452134260{n:05d}"
        doi = f"10.1016/j.chiabu.2026.107{n:03d}"
        with_doi = n % 2 == 0
        description = (
            f"<p>Publication date: Available online {n + 1} November 2026</p>"
            f"<p><b>Source:</b> {escape(journal)}, Volume 172</p>"
            "<p>Author(s): Gwenllian Jones, Zoë Ó Súilleabháin</p>"
            + (f"<p>DOI: {doi}</p>" if with_doi else "")
        )
        link = f"https://www.sciencedirect.com/science/article/pii/{pii}?dgcid=rss_sd_all"
        items.append(
            "<item>"
            + tag("title", title(n, journal))
            + tag("link", link)
            + f'<guid isPermaLink="false">{pii}</guid>'
            + tag("description", description)
            + tag("pubDate", date(n).strftime("%a, %d %b %Y %H:%M:%S +0000"))
            + "</item>"
        )
        labels.append(Label(file, pii, title(n, journal), doi, with_doi, None))
    return rss(journal, items), labels


def springer() -> tuple[str, list[Label]]:
    """Springer's RSS: link.springer.com/10.1007/… links (a few /article/ ones), the
    abstract as the description."""
    journal = "Journal of Family Violence"
    file, items, labels = "springer_jofv.xml", [], []
    for n in range(30):
        doi = f"10.1007/s10896-026-00{n:03d}-{'xz'[n % 2]}"
        link = (
            f"https://link.springer.com/article/{doi}"
            if n % 5 == 0
            else f"http://link.springer.com/{doi}"
        )
        items.append(
            "<item>"
            + tag("title", title(n, journal))
            + tag("link", link)
            + tag("description", abstract(n, journal))
            + tag("pubDate", date(n).strftime("%a, %d %b %Y %H:%M:%S +0000"))
            + tag("dc:creator", "Nakamura, Aiko")
            + "</item>"
        )
        labels.append(Label(file, link, title(n, journal), doi, True, None))
    return rss(journal, items), labels


# PubMed entries 0-4 are the Wiley feed's articles 0-4: the same DOI in two feeds.
SHARED_WITH_WILEY = 5


def pubmed() -> tuple[str, list[Label]]:
    """PubMed's RSS: guid "pubmed:N", a tracked link, PMID and DOI in dc:identifier (PMID
    first, as PubMed writes them) and at the end of the description."""
    file, items, labels = "pubmed_search.xml", [], []
    for n in range(30):
        pmid = pubmed_id(n)
        doi = (
            f"10.1111/cfs.13{n:03d}"
            if n < SHARED_WITH_WILEY
            else (f"10.3390/children1311{n:04d}" if n % 5 else None)
        )
        old = n % 10 == 9  # the old address, and no guid
        link = (
            f"https://www.ncbi.nlm.nih.gov/pubmed/{pmid}"
            if old
            else f"https://pubmed.ncbi.nlm.nih.gov/{pmid}/?utm_source=Feedly&utm_medium=rss"
        )
        name = title(n, "Wiley") if n < SHARED_WITH_WILEY else title(n, "PubMed")
        # PubMed's description: the citation (with the DOI), the abstract, then the ids.
        citation = f"<p>Child Abuse Negl. 2026 Nov {n + 1};172:107{n:03d}."
        citation += f" doi: {doi}. Online ahead of print.</p>" if doi else "</p>"
        ids = f'PMID:<a href="https://pubmed.ncbi.nlm.nih.gov/{pmid}/">{pmid}</a>'
        if doi:
            ids += f' | DOI:<a href="https://doi.org/{doi}">{doi}</a>'
        items.append(
            "<item>"
            + tag("title", name)
            + tag("link", link)
            + ("" if old else f'<guid isPermaLink="false">pubmed:{pmid}</guid>')
            + tag("description", citation + abstract(n, "PubMed") + f"<p>{ids}</p>")
            + tag("pubDate", date(n).strftime("%a, %d %b %Y %H:%M:%S +0000"))
            + tag("dc:identifier", f"pmid:{pmid}")
            + (tag("dc:identifier", f"doi:{doi}") if doi else "")
            + "</item>"
        )
        key = link if old else f"pubmed:{pmid}"
        labels.append(Label(file, key, name, doi, doi is not None, pmid))
    return rss("PubMed: child neglect", items), labels


def oup() -> tuple[str, list[Label]]:
    """Oxford Academic: issue articles' links carry no DOI (the feed has none); advance
    articles' do, followed by Oxford's own article number."""
    journal = "The British Journal of Social Work"
    file, items, labels = "oup_bjsw.xml", [], []
    for n in range(20):
        doi = f"10.1093/bjsw/bcag{n:03d}"
        advance = n % 5 < 2
        link = (
            f"https://academic.oup.com/bjsw/advance-article/doi/{doi}/81234{n:02d}?rss=1"
            if advance
            else f"https://academic.oup.com/bjsw/article/56/8/{2100 + n}/81230{n:02d}?rss=1"
        )
        items.append(
            "<item>"
            + tag("title", title(n, "BJSW"))
            + tag("link", link)
            + tag("description", abstract(n, journal))
            + tag("pubDate", date(n).strftime("%a, %d %b %Y %H:%M:%S +0000"))
            + "</item>"
        )
        labels.append(Label(file, link, title(n, "BJSW"), doi, advance, None))
    return rss(journal, items), labels


def bmj() -> tuple[str, list[Label]]:
    """BMJ's HighWire feeds: /content/volume/issue/page links; some entries give the DOI as
    `dc:identifier` "info:doi/…", the rest none."""
    journal = "Archives of Disease in Childhood"
    file, items, labels = "bmj_adc.xml", [], []
    for n in range(20):
        doi = f"10.1136/archdischild-2026-33{n:04d}"
        given = n % 2 == 1
        link = f"https://adc.bmj.com/content/111/11/{900 + n}?rss=1"
        items.append(
            "<item>"
            + tag("title", title(n, "ADC"))
            + tag("link", link)
            + tag("description", abstract(n, journal))
            + tag("dc:date", date(n).isoformat())
            + (tag("dc:identifier", f"info:doi/{doi}") if given else "")
            + "</item>"
        )
        labels.append(Label(file, link, title(n, "ADC"), doi, given, None))
    return rss(journal, items), labels


def json_feed() -> tuple[str, list[Label]]:
    """A JSON Feed of research news: the DOI as the id, in the url, or as the external_url;
    a few posts have none."""
    file, items, labels = "research_news.json", [], []
    for n in range(20):
        doi = f"10.1111/camh.12{n:03d}" if n < 16 else None
        item: dict[str, object] = {
            "title": title(n, "Research news"),
            "content_html": abstract(n, "research news"),
            "date_published": date(n).isoformat(),
        }
        if n < 6:
            item |= {"id": f"https://doi.org/{doi}", "url": f"https://news.example/{n}"}
        elif n < 12:
            item |= {"id": f"post-{n}", "url": f"https://acamh.onlinelibrary.wiley.com/doi/{doi}"}
        elif n < 16:
            item |= {
                "id": f"post-{n}",
                "url": f"https://news.example/{n}",
                "external_url": f"https://doi.org/{doi}",
            }
        else:
            item |= {"id": f"post-{n}", "url": f"https://news.example/{n}"}
        items.append(item)
        labels.append(Label(file, str(item["id"]), str(item["title"]), doi, doi is not None, None))
    document = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "Research news",
        "home_page_url": "https://news.example/",
        "items": items,
    }
    return json.dumps(document, ensure_ascii=False, indent=1) + "\n", labels


def blog() -> tuple[str, list[Label]]:
    """A practice blog: posts have no DOI of their own, and their text cites others' — two
    or three DOIs, "read the study" with one, a study named mid-sentence, a reference or a
    source at the end."""
    name = "Practice blog"
    file, items, labels = "practice_blog.xml", [], []
    for n in range(35):
        kind = n % 7
        first, second = f"10.1016/j.childyouth.2025.10{n:04d}", f"10.1093/bjsw/bcab{n:03d}"
        text = {
            0: f"<p>Two studies (doi:{first}; doi:{second}) disagree about it.</p>",
            1: f'<p>Read the study: <a href="https://doi.org/{first}">https://doi.org/{first}</a>'
            "</p>",
            2: f"<p>The paper by Evans (DOI: {second}) followed 200 families. We discuss it.</p>",
            3: f"<p>See https://doi.org/{first}, https://doi.org/{second} and doi:10.1177/1{n}.",
            4: "<p>No study is cited in this post, only our practice notes.</p>",
            5: f"<p>Journal reference: Evans, R. et al. (2026) Children. doi:{first}</p>",
            6: f"<p>Source: https://doi.org/{second}</p>",
        }[kind]
        link = f"https://blog.example/posts/{n}"
        items.append(
            "<item>"
            + tag("title", title(n, "Blog"))
            + tag("link", link)
            + tag("description", abstract(n, "practice") + text)
            + tag("pubDate", date(n).strftime("%a, %d %b %Y %H:%M:%S +0000"))
            + "</item>"
        )
        labels.append(Label(file, link, title(n, "Blog"), None, False, None))
    return rss(name, items), labels


FEEDS = [wiley, wiley_legacy, elsevier, springer, sage, tandf, pubmed, oup, bmj, json_feed, blog]
PUBLISHERS = {
    "wiley_cfs.rdf": "Wiley",
    "wiley_car.xml": "Wiley (RSS 2.0)",
    "elsevier_chiabu.xml": "Elsevier",
    "springer_jofv.xml": "Springer",
    "sage_cm.rdf": "SAGE",
    "tandf_ccp.rdf": "Taylor & Francis",
    "pubmed_search.xml": "PubMed",
    "oup_bjsw.xml": "OUP",
    "bmj_adc.xml": "BMJ",
    "research_news.json": "JSON Feed",
    "practice_blog.xml": "Blog (cites others)",
}


def main() -> None:
    FOLDER.mkdir(parents=True, exist_ok=True)
    labels: list[Label] = []
    for make in FEEDS:
        document, found = make()
        (FOLDER / found[0].feed).write_text(document, encoding="utf-8")
        labels += found
    (FOLDER / "labels.json").write_text(
        json.dumps(
            {"publishers": PUBLISHERS, "items": [asdict(label) for label in labels]},
            ensure_ascii=False,
            indent=1,
        )
        + "\n",
        encoding="utf-8",
    )
    print(f"{len(labels)} labelled items in {len(FEEDS)} feeds")


if __name__ == "__main__":
    main()
