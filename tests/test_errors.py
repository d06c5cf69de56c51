"""What could not be done is said the same way everywhere: every domain error is a `DigestError`,
the web app answers each kind with one status (and undoes what the request wrote), and the
command line exits 2 with one line."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from webapp import Site, add_items, csrf_token, entry, make_site, placements

import digest
from digest.cli import cli, load_all_commands
from digest.db import transaction
from digest.editions import compose
from digest.errors import DigestError, Invalid, NotFound, Refused, TooMany, Unavailable
from digest.models import (
    AuditEntry,
    Delivery,
    Edition,
    ItemStatus,
    Placement,
    PlacementTopic,
    Role,
)
from digest.models.lookup import newsletter_by_slug
from digest.subscriptions.signup import TooManySignups
from digest.web.errors import status_of

# Raised and caught inside one stage to steer its own work; never shown to anyone as they are.
INTERNAL = {
    "digest.web.security.WriteWhileLooking",  # a bug detector: a write on a read-only request
    "digest.ingest.fetch.BodyTooLarge",  # becomes a feed problem in words
    "digest.delivery.transport.SmtpError",  # becomes a delivery outcome
    "digest.delivery.recorder.Unrecorded",  # stops a worker's connection; the worker says why
    "digest.delivery.queue.ClaimLost",  # the same
    "digest.delivery.connections.WorkerError",  # the same
    "digest.delivery.connections.LockLost",  # the same
    "digest.cli.UsageProblem",  # how the command line says any of them
    "digest.settings.Unfit",  # becomes a SettingError, which names the variable
    "digest.research.pubmed_source._Stopped",  # carries a failed request's harvest out
}


def _exception_classes() -> dict[str, type[BaseException]]:
    load_all_commands()
    found = {}
    for module in pkgutil.walk_packages(digest.__path__, "digest."):
        if ".migrations" in module.name:
            continue
        loaded = importlib.import_module(module.name)
        for name, value in vars(loaded).items():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == module.name
            ):
                found[f"{module.name}.{name}"] = value
    return found


def test_every_error_a_person_is_told_about_is_a_digest_error() -> None:
    classes = _exception_classes()
    assert "digest.curation.decisions.DecisionError" in classes  # the walk does find them
    outside = sorted(
        name
        for name, kind in classes.items()
        if not issubclass(kind, DigestError) and name not in INTERNAL
    )
    assert outside == []


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (Invalid("x"), 400),
        (NotFound("x"), 404),
        (Refused("x"), 409),
        (TooMany("x"), 429),
        (Unavailable("x"), 503),
        (compose.EditionError("x"), 409),
    ],
)
def test_each_kind_of_error_has_one_http_status(error: DigestError, status: int) -> None:
    assert status_of(error) == status


def test_a_signup_refused_for_being_too_many_is_a_429_not_a_400() -> None:
    assert status_of(TooManySignups("slow down")) == 429


@pytest.fixture
def site(factory) -> Site:
    return make_site(factory)


def _one_new_item(factory) -> int:
    """Its placement in CASPAR."""
    item_ids = add_items(factory, [entry("Neglect in adolescence", "https://example.org/n")])
    return placements(factory, item_ids)[0]


def test_an_unknown_item_is_a_404_page(site: Site) -> None:
    response = site.client(Role.LIBRARIAN).get("/items/987654")
    assert response.status_code == 404
    assert "There is nothing here." in response.text


def test_tagging_with_an_unknown_topic_is_refused_in_words_and_writes_nothing(site: Site) -> None:
    client = site.client(Role.LIBRARIAN)
    placement = _one_new_item(site.factory)
    response = client.post(
        "/items/bulk",
        data={
            "placement": [placement],
            "action": "tag",
            "topic": 987654,
            "csrf_token": csrf_token(client, "/"),
        },
        follow_redirects=True,
    )
    assert response.status_code == 200
    assert "Not changed: no topic with id 987654." in response.text
    with site.factory() as session:
        assert session.scalar(select(func.count()).select_from(PlacementTopic)) == 0


def test_a_bulk_decision_naming_an_unknown_item_is_a_404_and_decides_nothing(site: Site) -> None:
    client = site.client(Role.LIBRARIAN)
    placement = _one_new_item(site.factory)
    response = client.post(
        "/items/bulk",
        data={
            "placement": [placement, 987654],
            "action": "accepted",
            "csrf_token": csrf_token(client, "/"),
        },
    )
    assert response.status_code == 404
    with site.factory() as session:
        assert session.get(Placement, placement).status.value == "new"


@pytest.fixture
def command(factory):
    url = factory.kw["bind"].url.render_as_string(hide_password=False)
    config = Path(__file__).parent / "data" / "config.yaml"  # what the database was made with

    def invoke(*args: str):
        return CliRunner().invoke(cli, ["--config", str(config), "--db", url, *args])

    return invoke


def test_an_unknown_newsletter_exits_2_in_one_line(command) -> None:
    result = command("edition", "build", "--newsletter", "no-such-letter")
    assert result.exit_code == 2
    assert result.output.strip() == "Error: no newsletter 'no-such-letter'"


def _draft(factory) -> int:
    placement_id = _one_new_item(factory)
    with transaction(factory) as session:
        session.get(Placement, placement_id).status = ItemStatus.ACCEPTED
    with transaction(factory) as session:
        built = compose.build_draft(session, newsletter_by_slug(session, "caspar"), "test")
        assert built is not None
        return built.id


def test_sending_an_edition_that_is_not_approved_exits_2_and_queues_nothing(
    factory, command
) -> None:
    edition_id = _draft(factory)
    result = command("send", str(edition_id))
    assert result.exit_code == 2
    assert "only an approved edition can be sent; this one is draft" in result.output
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(Delivery)) == 0


def test_digest_send_is_in_the_audit_log_as_the_web_and_scheduler_sends_are(
    factory, command
) -> None:
    edition_id = _draft(factory)
    with transaction(factory) as session:
        compose.approve(session, session.get(Edition, edition_id), "editor@example.org")
    with factory() as session:
        assert session.get(Edition, edition_id).state.value == "approved"
    command("send", str(edition_id))
    with factory() as session:
        sent = session.scalars(select(AuditEntry).where(AuditEntry.action == "edition.send"))
        assert [(e.object_id, e.actor.startswith("cli:")) for e in sent] == [
            (str(edition_id), True)
        ]
