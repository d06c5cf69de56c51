"""A library catalogue's OAI-PMH repository, answering as Koha's does, for pytest-httpserver:
Identify, ListRecords in marc21 (MARCXML) or oai_dc, `from` and `set` honoured, a few records a
page with resumption tokens, deleted records, and noRecordsMatch when nothing is new."""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

from pymarc import Record
from pymarc.marcxml import record_to_xml
from werkzeug import Request, Response

OAI = "http://www.openarchives.org/OAI/2.0/"


@dataclass
class Held:
    number: int
    datestamp: str  # YYYY-MM-DDThh:mm:ssZ
    record: Record | None  # None: deleted
    sets: tuple[str, ...] = ()
    dublin_core: str = ""  # the oai_dc elements, when the test asks for oai_dc


@dataclass
class Repository:
    """What the catalogue holds and how it answers; tests change it between polls."""

    now: str = "2026-12-01T09:00:00Z"
    granularity: str = "YYYY-MM-DDThh:mm:ssZ"
    page_size: int = 2
    held: list[Held] = field(default_factory=list)
    prefixes: tuple[str, ...] = ("marc21", "marcxml", "oai_dc")
    broken_page: int | None = None  # this page (1, 2, …) is sent cut off mid-element
    requests: list[dict[str, str]] = field(default_factory=list)

    def add(
        self, datestamp: str, record: Record | None, sets: tuple[str, ...] = (), dc: str = ""
    ) -> None:
        self.held.append(Held(len(self.held) + 1, datestamp, record, sets, dc))

    def __call__(self, request: Request) -> Response:
        args = {k: v for k, v in request.args.items()}
        self.requests.append(args)
        verb = args.get("verb")
        if verb == "Identify":
            return self._answer(
                f"<Identify><repositoryName>Library catalogue</repositoryName>"
                f"<baseURL>{escape(request.base_url)}</baseURL>"
                f"<protocolVersion>2.0</protocolVersion>"
                f"<earliestDatestamp>2000-01-01T00:00:00Z</earliestDatestamp>"
                f"<deletedRecord>persistent</deletedRecord>"
                f"<granularity>{self.granularity}</granularity></Identify>",
                args,
            )
        if verb != "ListRecords":
            return self._error("badVerb", "Illegal verb", args)
        if "resumptionToken" in args:
            try:
                prefix, offset, since, set_spec = self._untoken(args["resumptionToken"])
            except ValueError:
                return self._error("badResumptionToken", "The token is not valid", args)
        else:
            prefix, offset = args.get("metadataPrefix", ""), 0
            since, set_spec = args.get("from", ""), args.get("set", "")
        if prefix not in self.prefixes:
            return self._error("cannotDisseminateFormat", f"{prefix} is not offered", args)
        matching = [
            h
            for h in self.held
            if h.datestamp[: len(since)] >= since and (not set_spec or set_spec in h.sets)
        ]
        if not matching:
            return self._error("noRecordsMatch", "No records match", args)
        page = matching[offset : offset + self.page_size]
        more = offset + self.page_size < len(matching)
        token = (
            f'<resumptionToken cursor="{offset}">{prefix}/{offset + self.page_size}/'
            f"{since}/{set_spec}</resumptionToken>"
            if more
            else ""
        )
        body = "".join(self._record(h, prefix) for h in page)
        answer = self._answer(f"<ListRecords>{body}{token}</ListRecords>", args)
        if self.broken_page == offset // self.page_size + 1:
            answer.set_data(answer.get_data()[:-120])
        return answer

    @staticmethod
    def _untoken(token: str) -> tuple[str, int, str, str]:
        prefix, offset, since, set_spec = token.split("/")
        return prefix, int(offset), since, set_spec

    @staticmethod
    def _record(held: Held, prefix: str) -> str:
        header = (
            f"<identifier>KOHA-OAI-TEST:{held.number}</identifier>"
            f"<datestamp>{held.datestamp}</datestamp>"
            + "".join(f"<setSpec>{s}</setSpec>" for s in held.sets)
        )
        if held.record is None:
            return f'<record><header status="deleted">{header}</header></record>'
        if prefix == "oai_dc":
            metadata = (
                '<oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" '
                f'xmlns:dc="http://purl.org/dc/elements/1.1/">{held.dublin_core}</oai_dc:dc>'
            )
        else:
            metadata = record_to_xml(held.record, namespace=True).decode("utf-8")
        return f"<record><header>{header}</header><metadata>{metadata}</metadata></record>"

    def _answer(self, inner: str, args: dict[str, str]) -> Response:
        request = "".join(f' {k}="{escape(v)}"' for k, v in args.items())
        return Response(
            f'<?xml version="1.0" encoding="UTF-8"?>\n<OAI-PMH xmlns="{OAI}">'
            f"<responseDate>{self.now}</responseDate>"
            f"<request{request}>http://catalogue.test/cgi-bin/koha/oai.pl</request>"
            f"{inner}</OAI-PMH>",
            content_type="text/xml; charset=UTF-8",
        )

    def _error(self, code: str, text: str, args: dict[str, str]) -> Response:
        return self._answer(f'<error code="{code}">{escape(text)}</error>', args)
