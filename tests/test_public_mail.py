"""Public forms that send mail (sign-up, "you already receive this", "email me my link"): rate
limits per address and per network kept in the database, the same work and the same time for
known and unknown addresses, and no harm from hostile input."""

from __future__ import annotations

import random
import re
import statistics
import time
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from smtp import smtp_server
from sqlalchemy import func, inspect, select, text
from webapp import Site, csrf_token, make_site

from digest import formlimits
from digest.cli import cli
from digest.db import transaction
from digest.delivery.notices import NoticeMailer
from digest.delivery.transport import Transport
from digest.editions.message import MailSettings
from digest.models import (
    ConsentEvent,
    MailRequest,
    Newsletter,
    Subscriber,
    SubscriberStatus,
    Subscription,
)
from digest.subscriptions import requests
from digest.subscriptions.mailer import Notice
from digest.web import context, create_app

KEYS = ["public-mail-key"]
SECRET = "public-mail-secret"  # the app's and the commands': one key for addresses' hashes
BASE_URL = "https://digest.example.org"
SIGN_UP, LOST_LINK = "/subscribe/caspar", "/preferences"


def public_site(factory, monkeypatch, mail_url: str) -> Site:
    monkeypatch.setenv("DIGEST_SECRET_KEY", SECRET)  # for the commands, as a person's would
    return make_site(
        factory, mail_url=mail_url, secret_key=SECRET, token_keys=tuple(KEYS), base_url=BASE_URL
    )


@pytest.fixture
def mail(factory, monkeypatch):
    with smtp_server() as (inbox, url):
        yield public_site(factory, monkeypatch, url), inbox


def readers(factory, addresses: list[str]) -> None:
    """Active, confirmed CASPAR subscribers."""
    with transaction(factory) as session:
        caspar = session.scalar(select(Newsletter).where(Newsletter.slug == "caspar"))
        for address in addresses:
            session.add(
                Subscriber(
                    email=address,
                    subscriptions=[
                        Subscription(
                            newsletter=caspar,
                            status=SubscriberStatus.ACTIVE,
                            confirmed_at=datetime(2026, 1, 5, tzinfo=UTC),
                        )
                    ],
                )
            )


class Visitor:
    """A browser at one address, with the form token of each page it has opened."""

    def __init__(self, site: Site, address: str) -> None:
        self.client = site.app.test_client()
        self.client.environ_base["REMOTE_ADDR"] = address
        self.tokens = {path: csrf_token(self.client, path) for path in (SIGN_UP, LOST_LINK)}

    def post(self, path: str, email: str, **fields: str):
        data = {"email": email, "csrf_token": self.tokens[path], **fields}
        if path == SIGN_UP:
            data.setdefault("consent", "yes")
        return self.client.post(path, data=data)


@pytest.mark.parametrize("path", [SIGN_UP, LOST_LINK], ids=["already-subscribed", "lost-link"])
def test_one_address_gets_a_few_emails_a_day_however_many_ask(mail, path) -> None:
    site, inbox = mail
    readers(site.factory, ["reader@example.org"])
    for n in range(30):  # from as many networks: only the address's own limit holds
        response = Visitor(site, f"192.0.2.{n + 1}").post(path, "reader@example.org")
        assert response.status_code == 200
    site.settle()
    assert inbox.count("reader@example.org") == formlimits.PER_ADDRESS_PER_DAY


def test_one_network_is_limited_across_all_the_forms(mail) -> None:
    site, _ = mail
    office = Visitor(site, "198.51.100.7")
    for n in range(formlimits.PER_NETWORK_PER_HOUR):
        path = (SIGN_UP, LOST_LINK)[n % 2]
        assert office.post(path, f"person{n}@example.org").status_code == 200
    for path in (SIGN_UP, LOST_LINK):
        refused = office.post(path, "one.more@example.org")
        assert refused.status_code == 429
        assert "too many requests from this network; try again in an hour" in refused.text
    # Another network is not held up; nor is the same office an hour later.
    assert Visitor(site, "203.0.113.9").post(SIGN_UP, "elsewhere@example.org").status_code == 200
    with transaction(site.factory) as session:
        for row in session.scalars(select(MailRequest)):
            row.at -= timedelta(hours=1, seconds=1)
    assert office.post(SIGN_UP, "one.more@example.org").status_code == 200


def test_an_ipv6_network_counts_as_one_place(mail) -> None:
    site, _ = mail
    for n in range(formlimits.PER_NETWORK_PER_HOUR):
        visitor = Visitor(site, f"2001:db8:7:7::{n + 1:x}")
        assert visitor.post(LOST_LINK, f"p{n}@example.org").status_code == 200
    assert Visitor(site, "2001:db8:7:7:abcd::1").post(LOST_LINK, "x@example.org").status_code == 429
    assert Visitor(site, "2001:db8:7:8::1").post(LOST_LINK, "x@example.org").status_code == 200


def test_the_limits_hold_across_processes_and_restarts(mail) -> None:
    site, inbox = mail
    readers(site.factory, ["reader@example.org"])
    settings = site.app.extensions[context.SETTINGS]
    for n in range(formlimits.PER_ADDRESS_PER_DAY + 3):
        app = create_app(settings)  # a fresh process each time, with the same settings
        other = Site(app, site.factory)
        response = Visitor(other, f"192.0.2.{n + 1}").post(LOST_LINK, "reader@example.org")
        assert response.status_code == 200
        other.settle()
    assert inbox.count("reader@example.org") == formlimits.PER_ADDRESS_PER_DAY


def _table_counts(site: Site) -> dict[str, int]:
    with site.factory() as session:
        names = inspect(session.get_bind()).get_table_names()
        return {
            name: session.scalar(text(f'SELECT count(*) FROM "{name}"'))
            for name in names
            if not name.startswith(("items_fts", "apscheduler"))
        }


@pytest.mark.parametrize("path", [SIGN_UP, LOST_LINK], ids=["sign-up", "lost-link"])
def test_a_known_and_an_unknown_address_make_the_request_write_the_same(mail, path) -> None:
    site, _ = mail
    readers(site.factory, ["known@example.org"])
    visitor = Visitor(site, "192.0.2.1")
    before = _table_counts(site)
    site.app.extensions["digest.mail_requests"].wake = lambda: None  # hold the sender back
    visitor.post(path, "known@example.org")
    after_known = _table_counts(site)
    visitor.post(path, "unknown@example.org")
    after_unknown = _table_counts(site)
    grown = {name: after_known[name] - before[name] for name in before}
    assert {name: n for name, n in grown.items() if n} == {"mail_requests": 1}
    assert {name: after_unknown[name] - after_known[name] for name in before} == grown


def _paired_differences(site: Site, path: str, pairs: int, run: int) -> list[float]:
    """For each pair, (known − unknown) answer time in seconds. Each pair is two fresh
    addresses, from networks of their own, asked in random order; the sender finishes between
    requests, so each is timed alone: this measures what the request itself does, which is
    what must not depend on the address."""
    differences = []
    for n in range(pairs):
        timed = {}
        visitors = {
            kind: Visitor(site, f"10.{k}.{run}.{n + 1}")
            for k, kind in enumerate(("known", "unknown"))
        }
        for kind in random.sample(["known", "unknown"], 2):
            address = f"known{n}@example.org" if kind == "known" else f"new{run}.{n}@example.org"
            start = time.perf_counter()
            response = visitors[kind].post(path, address)
            timed[kind] = time.perf_counter() - start
            assert response.status_code == 200
            site.settle()
            time.sleep(0.02)  # and the mail server, in a thread of this process, is done
        differences.append(timed["known"] - timed["unknown"])
    return differences


def _within_noise(differences: list[float]) -> tuple[float, float]:
    """The median difference, and the bound it must stay within: 1 ms, or three standard
    errors of the median (from the median absolute deviation) when the machine is busier."""
    median = statistics.median(differences)
    spread = 1.4826 * statistics.median(abs(d - median) for d in differences)
    standard_error = 1.2533 * spread / len(differences) ** 0.5
    return median, max(0.001, 3 * standard_error)


# The probe that found this measured 13 ms against 5.5 ms; the old code, here, +125 ms
# (lost link) and −10 ms (sign-up). A bound over 5 ms could miss such a leak, and on a busy
# machine a run can stray past 1 ms by chance: then the pairs of another run are pooled with
# the first, up to three runs. A leak is in every run, so pooling keeps it; a stray run is
# diluted.
PAIRS, MAX_BOUND = 100, 0.005


@pytest.mark.alone
@pytest.mark.parametrize("path", [SIGN_UP, LOST_LINK], ids=["sign-up", "lost-link"])
def test_known_and_unknown_addresses_answer_in_the_same_time(
    sqlite_factory, monkeypatch, path
) -> None:
    with smtp_server() as (inbox, url):
        site = public_site(sqlite_factory, monkeypatch, url)
        readers(sqlite_factory, [f"known{n}@example.org" for n in range(PAIRS)])
        differences: list[float] = []
        for run in range(3):
            differences += _paired_differences(site, path, PAIRS, run)
            median, bound = _within_noise(differences)
            if bound <= MAX_BOUND and abs(median) < bound:
                break
            with transaction(sqlite_factory) as session:  # fresh limits for the next run
                session.execute(MailRequest.__table__.delete())
        figures = f"known − unknown: {median * 1000:+.2f} ms, bound {bound * 1000:.2f} ms"
        assert bound <= MAX_BOUND, f"too noisy to tell: {figures}"
        assert abs(median) < bound, figures
    assert inbox.count("known0@example.org") >= 1  # the known addresses did get their emails


@pytest.mark.parametrize(
    "typed",
    ["x" * 5000 + "@example.org", "reader\x00@example.org", "a@b.org\r\nBcc: c@d.org", ""],
    ids=["huge", "nul", "line-break", "empty"],
)
def test_a_malformed_address_is_refused_plainly_and_nothing_is_queued(mail, typed) -> None:
    site, inbox = mail
    visitor = Visitor(site, "192.0.2.1")
    for path in (SIGN_UP, LOST_LINK):
        response = visitor.post(path, typed)
        assert response.status_code == 400, path
        refusal = "contains a NUL character" if "\x00" in typed else "not an email address"
        assert refusal in response.text
        assert len(response.data) < 20_000
    site.settle()
    with site.factory() as session:
        assert session.scalar(select(func.count()).select_from(MailRequest)) == 0
    assert inbox.received == []


def test_hostile_form_fields_are_cut_down_and_the_sign_up_still_works(mail) -> None:
    site, inbox = mail
    visitor = Visitor(site, "192.0.2.1")
    response = visitor.client.post(
        SIGN_UP,
        data={
            "email": "new@example.org",
            "name": "Ŵ\r\n" + "Ŵ" * 100_000,
            "topic": ["1"],  # ids out of range are refused plainly: see test_web_bad_input
            "consent": "yes",
            "csrf_token": visitor.tokens[SIGN_UP],
        },
        headers={"User-Agent": "\x00" + "A" * 100_000},
    )
    assert response.status_code == 200, response.text
    site.settle()
    assert inbox.count("new@example.org") == 1
    with site.factory() as session:
        subscriber = session.scalar(select(Subscriber))
        assert subscriber.name == "Ŵ" * 200
        event = session.scalar(select(ConsentEvent))
        assert len(event.user_agent) == 500 and event.ip == "192.0.2.1"


def _mail_settings(url: str) -> requests.Mail:
    return requests.Mail(KEYS, MailSettings(BASE_URL), NoticeMailer({None: Transport(url)}), "secret")


def test_a_request_decided_before_a_crash_is_sent_once_and_not_decided_again(
    factory, monkeypatch
) -> None:
    with smtp_server() as (inbox, url):
        with transaction(factory) as session:
            session.add(
                MailRequest(
                    kind="signup",
                    email="reader@example.org",
                    address_key="k",
                    network="192.0.2.1",
                    outgoing=[
                        Notice(None, "a@digest.test", "reader@example.org", "Hi", "Hi\n").as_json()
                    ],
                    tries=1,
                    claimed_until=datetime.now(UTC) - timedelta(seconds=1),  # its claim ran out
                )
            )
        assert requests.process_all(factory, _mail_settings(url)) == 1
        assert requests.process_all(factory, _mail_settings(url)) == 0
    assert inbox.count("reader@example.org") == 1
    with factory() as session:
        row = session.scalar(select(MailRequest))
        assert row.done_at is not None and row.email is None and row.outgoing is None
        assert session.scalar(select(func.count()).select_from(Subscriber)) == 0


def test_a_request_that_cannot_be_processed_is_given_up_and_the_rest_go_on(factory, caplog) -> None:
    with smtp_server() as (inbox, url):
        with transaction(factory) as session:
            caspar = session.scalar(select(Newsletter.id).where(Newsletter.slug == "caspar"))
            for address in ("not an address", "fine@example.org"):
                session.add(
                    MailRequest(
                        kind="signup",
                        newsletter_id=caspar,
                        email=address,
                        address_key=address,
                        network="192.0.2.1",
                        detail={"form": "test"},
                        tries=0,
                    )
                )
        requests.process_all(factory, _mail_settings(url))
    assert inbox.count("fine@example.org") == 1
    assert "could not be processed" in caplog.text
    with factory() as session:
        assert requests.pending(session) == 0
        broken = session.scalar(
            select(MailRequest).where(MailRequest.address_key == "not an address")
        )
        assert broken.tries == requests.MAX_TRIES and broken.email is None


def test_the_page_says_the_same_and_the_owner_alone_learns_more(mail) -> None:
    site, inbox = mail
    readers(site.factory, ["known@example.org"])
    pages = [
        re.sub(r'"[\w.-]{40,}"', "TOKEN", Visitor(site, "192.0.2.1").post(path, email).text)
        for path in (SIGN_UP, LOST_LINK)
        for email in ("known@example.org", "unknown@example.org")
    ]
    assert pages[0] == pages[1] and pages[2] == pages[3]
    site.settle()
    subjects = sorted(m["Subject"] for m in inbox.messages("known@example.org"))
    assert subjects == ["You already receive CASPAR", "Your preference links for Llyfrgell Plant — Children’s Library"]


def test_erasing_an_address_drops_its_requests_not_yet_sent(mail) -> None:
    site, inbox = mail
    readers(site.factory, ["reader@example.org"])
    sender = site.app.extensions["digest.mail_requests"]
    held = sender.wake
    sender.wake = lambda: None  # the requests are queued, not yet sent
    for path in (SIGN_UP, LOST_LINK):
        assert Visitor(site, "192.0.2.1").post(path, "reader@example.org").status_code == 200
    url = site.factory.kw["bind"].url.render_as_string(hide_password=False)
    erased = CliRunner().invoke(
        cli, ["--db", url, "subscribers", "erase", "reader@example.org", "--yes"]
    )
    assert erased.exit_code == 0, erased.output
    sender.wake = held
    site.settle()
    assert inbox.received == []
    with site.factory() as session:
        assert session.scalar(select(func.count()).select_from(Subscriber)) == 0


def test_a_sender_told_to_stop_finishes_the_request_in_hand_and_leaves_the_rest_queued(
    factory,
) -> None:
    """So that stopping the web app waits for one message, not for everything queued."""
    with smtp_server() as (inbox, url):
        with transaction(factory) as session:
            caspar = session.scalar(select(Newsletter.id).where(Newsletter.slug == "caspar"))
            for n in range(3):
                session.add(
                    MailRequest(
                        kind="signup",
                        newsletter_id=caspar,
                        email=f"queued{n}@example.org",
                        address_key=f"queued{n}",
                        network="192.0.2.1",
                        detail={"form": "test"},
                        tries=0,
                    )
                )
        asked: list[bool] = []

        def stopping() -> bool:  # told to stop once the first request is done
            asked.append(True)
            return len(asked) > 1

        assert requests.process_all(factory, _mail_settings(url), stopping) == 1
        assert len(inbox.received) == 1
        with factory() as session:
            assert requests.pending(session) == 2
        assert requests.process_all(factory, _mail_settings(url)) == 2
    assert sorted(to for _, (to,), _ in inbox.received) == [
        f"queued{n}@example.org" for n in range(3)
    ]
