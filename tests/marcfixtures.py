"""MARC21 records as a library system exports them, built with pymarc for the tests: a book
with editors, a report, a chapter, an article, a record in MARC-8, and broken bytes."""

from __future__ import annotations

from pymarc import Field, Indicators, Leader, Record, Subfield
from pymarc.marcxml import record_to_xml


def field(tag: str, ind: str = "  ", **subfields: str | list[str]) -> Field:
    """A data field; a list gives a subfield more than once, in order."""
    coded = [
        Subfield(code, value)
        for code, values in subfields.items()
        for value in (values if isinstance(values, list) else [values])
    ]
    return Field(tag=tag, indicators=Indicators(ind[0], ind[1]), subfields=coded)


def fixed(date: str = "2016", nature: str = "    ") -> Field:
    """008 for a book: date type s, its year, England, nature of contents, English."""
    data = f"160101s{date}    enk{' ' * 6}{nature}{' ' * 5}0 eng d"
    assert len(data) == 40
    return Field(tag="008", data=data)


def record(kind: str = "am", *fields: Field, marc8: bool = False) -> Record:
    made = Record(to_unicode=not marc8, force_utf8=not marc8)
    coding = " " if marc8 else "a"
    made.leader = Leader(f"00000n{kind} {coding}2200000 i 4500")
    made.add_field(*fields)
    return made


def book_with_editors() -> Record:
    return record(
        "am",
        Field(tag="001", data="b1001"),
        fixed("2019"),
        field("020", a="978-1-4473-4569-5 (pbk.)"),
        field("020", a="1447345693 (hbk.)"),
        field("245", "10", a="Contextual safeguarding :", b="an overview of the research /", c="x"),
        field("250", a="Second edition."),
        field("264", " 1", a="Bristol :", b="Policy Press,", c="[2019]"),
        field("490", "1 ", a="Safeguarding studies ;", v="4"),
        field("520", a="Chapters on peer abuse — and on what schools can do."),
        field("700", "1 ", a="Firmin, Carlene,", e="editor."),
        field("700", "1 ", a="Łukasik, Józef,", e="editor."),
        field("700", "1 ", a="Bloggs, Jo,", e="illustrator."),
        field("830", " 0", a="Safeguarding studies."),
        field("856", "40", u="https://policy.bristoluniversitypress.co.uk/contextual"),
    )


def report() -> Record:
    return record(
        "am",
        fixed("2016", "t   "),
        field("088", a="NSPCC/2016/7"),
        field("100", "1 ", a="Jütte, Sonja,", e="author."),
        field(
            "245",
            "10",
            a="Online child sexual abuse images :",
            b="doing more to tackle demand and supply /",
        ),
        field("260", a="London :", b="NSPCC,", c="2016."),
        field("024", "7 ", a="10.1234/NSPCC.2016.7", **{"2": "doi"}),
    )


def chapter() -> Record:
    return record(
        "aa",
        fixed("2020"),
        field("100", "1 ", a="Ngũgĩ, Wanjiru."),
        field("245", "10", a="Listening to children in Łódź /"),
        field(
            "773",
            "0 ",
            t="Child protection in Europe",
            d="London : Routledge, 2020",
            g="p. 45–67",
            z="9780367000000",
        ),
    )


def article() -> Record:
    return record(
        "ab",
        fixed("2021"),
        field("100", "1 ", a="O’Brien, Siobhán"),
        field("700", "1 ", a="Dupré, Élodie"),
        field("245", "10", a="Peer-on-peer harm in schools"),
        field(
            "773",
            "0 ",
            t="Child Abuse Review",
            g="Vol. 30, no. 2 (2021), p. 101-115",
            x="0952-9136",
        ),
        field("856", "40", u="https://doi.org/10.1002/car.2670"),
    )


def marc8_record() -> Record:
    """Jütte and Łódź in MARC-8: the umlaut (E8) and acute (E2) come before their letters,
    and Ł is A1."""
    return record(
        "am",
        fixed("2015"),
        field("100", "1 ", a="J\xe8utte, Sonja."),
        field("245", "10", a="Safeguarding in \xa1\xe2od\xe2z /"),
        field("260", a="\xa1\xe2od\xe2z :", b="Wydawnictwo,", c="2015."),
        marc8=True,
    )


def untitled() -> Record:
    return record("am", fixed("2016"), field("100", "1 ", a="Nobody, Anne."))


def binary(*records: Record) -> bytes:
    return b"".join(r.as_marc() for r in records)


def marcxml(*records: Record) -> bytes:
    body = b"".join(record_to_xml(r, namespace=False) for r in records)
    return (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<collection xmlns="http://www.loc.gov/MARC21/slim">' + body + b"</collection>"
    )
