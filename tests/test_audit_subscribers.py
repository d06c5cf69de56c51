"""Every change staff make to subscribers is in the audit log, once, naming who made it: adding
a person, importing a list (one entry with its counts, not one per row), unsubscribing
someone, exporting a list, erasing someone; on the web and from the command line. Erasure
forgets the person in the log too: its own entry names them by number alone, and the
entries written before lose their address and name."""

from __future__ import annotations

import html
import io
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import select, text
from webapp import STAFF, Site, csrf_token, export_subscribers, make_site

from digest import audit
from digest.cli import cli, cli_actor
from digest.db import transaction
from digest.models import AuditEntry, Newsletter, Role, Subscriber, Subscription
from digest.subscriptions import lists, privacy, suppression
from digest.subscriptions.staffaudit import ERASED

KEY = "test-secret-key"  # what make_site's settings key the suppression list with
ZOE, ZOE_NAME = "zoe@例え.jp", "Zoë Ødegård"
LIST = (
    "email,name,status,topics,consent_source,consent_at,consent_ip,confirmed_at\n"
    f"{ZOE},{ZOE_NAME},active,neglect,Paper form — Bodø,,,\n"
    "ann@example.org,Ann,active,,,,,\n"
    "not-an-address,Bad,active,,,,,\n"
    "bounced@example.org,,active,,,,,\n"
)
HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')
EDITOR, ADMIN = STAFF[Role.EDITOR], STAFF[Role.ADMIN]


@pytest.fixture
def site(factory, tmp_path: Path) -> Site:
    site = make_site(factory, upload_dir=tmp_path / "uploads")
    with transaction(factory) as session:
        suppression.suppress(session, "bounced@example.org", suppression.Reason.BOUNCED, KEY)
    return site


def logged(site: Site) -> list[tuple[str, str, str | None, str, dict | None, dict | None]]:
    """The subscriber entries, oldest first: (actor, action, object id, summary, before,
    after)."""
    with site.factory() as session:
        return [
            (e.actor, e.action, e.object_id, e.summary, e.before, e.after)
            for e in session.scalars(
                select(AuditEntry)
                .where(AuditEntry.object_type == "subscriber")
                .order_by(AuditEntry.id)
            )
        ]


def zoe_id(site: Site) -> int:
    with site.factory() as session:
        return session.scalar(select(Subscriber.id).where(Subscriber.email == ZOE))


def post(client: FlaskClient, path: str, **form: str):
    return client.post(path, data={"csrf_token": csrf_token(client, "/subscribers"), **form})


def add(client: FlaskClient, email: str = ZOE, name: str = ZOE_NAME, topic: str = "neglect"):
    return client.post(
        "/subscribers/add",
        data={
            "csrf_token": csrf_token(client, "/subscribers/add"),
            "email": email,
            "name": name,
            "newsletter": "caspar",
            "topic": topic,
            "source": "Phone call — Bodø",
        },
    )


def preview(client: FlaskClient, content: str, file_name: str = "list.csv") -> dict[str, str]:
    """Upload and preview; the fields the preview's "Import" button posts."""
    shown = client.post(
        "/subscribers/import/preview",
        data={
            "csrf_token": csrf_token(client, "/subscribers/import"),
            "file": (io.BytesIO(content.encode()), file_name),
            "newsletter": "caspar",
            "source": "",
        },
        content_type="multipart/form-data",
    )
    assert shown.status_code == 200, shown.text
    return {k: html.unescape(v) for k, v in HIDDEN.findall(shown.text)}


def import_list(client: FlaskClient, content: str, file_name: str = "list.csv"):
    """Upload, preview and import, as a person does."""
    fields = preview(client, content, file_name)
    return post(client, "/subscribers/import/apply", **fields)


def confirmed(client: FlaskClient, path: str, **form: str):
    """Ask, then answer yes with the fields the confirmation page carries."""
    asked = post(client, path, **form)
    assert asked.status_code == 200, asked.text
    fields = {name: html.unescape(value) for name, value in HIDDEN.findall(asked.text)}
    return client.post(path, data=fields)


def caspar_subscription(site: Site) -> int:
    with site.factory() as session:
        return session.scalar(
            select(Subscription.id)
            .join(Newsletter)
            .join(Subscriber)
            .where(Newsletter.slug == "caspar", Subscriber.email == ZOE)
        )


def test_adding_a_person_leaves_one_entry_naming_who_added_whom_where(site: Site) -> None:
    client = site.client(Role.EDITOR)
    assert add(client).status_code == 302
    ((actor, action, object_id, summary, before, after),) = logged(site)
    assert (actor, action, object_id) == (EDITOR, "subscriber.add", str(zoe_id(site)))
    assert summary == f"Added {ZOE_NAME} <{ZOE}> in caspar"
    assert before is None
    assert after["newsletter"] == "caspar" and after["topics"] == ["neglect"]
    assert after["outcome"] == "new" and after["email"] == ZOE
    assert after["consent source"] == f"added by {EDITOR}: Phone call — Bodø"


def test_adding_again_with_new_choices_is_recorded_and_without_any_is_not(site: Site) -> None:
    client = site.client(Role.EDITOR)
    add(client)
    add(client)  # the same choices: nothing changed, nothing to record
    assert [entry[1] for entry in logged(site)] == ["subscriber.add"]
    add(client, topic="online-grooming")
    assert [entry[5]["outcome"] for entry in logged(site)] == ["new", "updated"]


def test_an_import_leaves_one_entry_with_its_counts_and_the_preview_none(site: Site) -> None:
    client = site.client(Role.EDITOR)
    fields = preview(client, LIST, "spring — Bodø.csv")
    assert logged(site) == []
    assert post(client, "/subscribers/import/apply", **fields).status_code == 302
    ((actor, action, object_id, summary, _, after),) = logged(site)
    assert (actor, action, object_id) == (EDITOR, "subscriber.import", None)
    counts = {k: after[k] for k in ("new", "updated", "unchanged", "left", "held back", "bad rows")}
    assert counts == {
        "new": 2,
        "updated": 0,
        "unchanged": 0,
        "left": 0,
        "held back": 1,
        "bad rows": 1,
    }
    assert after["file"] == "spring — Bodø.csv" and after["newsletter"] == "caspar"
    assert summary.startswith("Imported spring — Bodø.csv into caspar: 2 new, 0 updated")


def test_an_import_undone_because_the_subscribers_changed_leaves_no_entry(site: Site) -> None:
    client = site.client(Role.EDITOR)
    fields = preview(client, LIST)
    with transaction(site.factory) as session:  # someone is added in between
        caspar = session.scalar(select(Newsletter).where(Newsletter.slug == "caspar"))
        lists.add_subscriber(session, caspar, ZOE, "", [], "phone", KEY, actor="someone")
    post(client, "/subscribers/import/apply", **fields)
    assert [entry[1] for entry in logged(site)] == ["subscriber.add"]


def test_unsubscribing_someone_leaves_one_entry_and_doing_it_again_none(site: Site) -> None:
    client = site.client(Role.EDITOR)
    add(client)
    path = f"/subscribers/{zoe_id(site)}/unsubscribe"
    subscription = str(caspar_subscription(site))
    assert confirmed(client, path, subscription=subscription).status_code == 302
    assert confirmed(client, path, subscription=subscription).status_code == 302
    *_, (actor, action, object_id, summary, before, after) = logged(site)
    assert [entry[1] for entry in logged(site)] == ["subscriber.add", "subscriber.unsubscribe"]
    assert (actor, action, object_id) == (EDITOR, "subscriber.unsubscribe", str(zoe_id(site)))
    assert summary == f"Unsubscribed {ZOE_NAME} <{ZOE}> from caspar"
    assert audit.changes(before, after)[0].field == "status"
    assert (before["status"], after["status"]) == ("active", "unsubscribed")


def test_an_export_says_who_took_how_many_of_which_newsletter(site: Site) -> None:
    client = site.client(Role.EDITOR)
    add(client)
    add(client, email="ann@example.org", name="Ann")
    everyone = export_subscribers(client, "newsletter=caspar")
    assert everyone.status_code == 200 and everyone.headers["X-Digest-Rows"] == "2"
    one = export_subscribers(client, "newsletter=caspar&q=Ødegård")
    assert one.headers["X-Digest-Rows"] == "1"
    exports = [entry for entry in logged(site) if entry[1] == "subscriber.export"]
    assert [(actor, summary, after) for actor, _, _, summary, _, after in exports] == [
        (
            EDITOR,
            "Exported 2 subscribers of caspar",
            {"newsletter": "caspar", "rows": 2, "search": ""},
        ),
        (
            EDITOR,
            "Exported 1 subscriber of caspar matching 'Ødegård'",
            {"newsletter": "caspar", "rows": 1, "search": "Ødegård"},
        ),
    ]


def every_cell(site: Site) -> str:
    """Every column of every row of the audit table, as the database gives them back."""
    with site.factory() as session:
        rows = session.execute(text("SELECT * FROM audit_log")).all()
    return "\n".join(str(cell) for row in rows for cell in row)


def traces(found: str) -> list[str]:
    """Which forms of Zoë's address and name `found` holds, as typed or JSON-escaped, in any
    case."""
    forms = [ZOE, ZOE_NAME, "Ødegård", "zoe@"]
    forms += [json.dumps(f)[1:-1] for f in forms]
    return [f for f in forms if f.casefold() in found.casefold()]


def test_erasing_someone_leaves_one_entry_and_no_trace_of_them_in_the_log(site: Site) -> None:
    editor, admin = site.client(Role.EDITOR), site.client(Role.ADMIN)
    add(editor)
    add(editor, email="ann@example.org", name="Ann")
    number = zoe_id(site)
    confirmed(
        editor, f"/subscribers/{number}/unsubscribe", subscription=str(caspar_subscription(site))
    )
    export_subscribers(editor, f"newsletter=caspar&q={ZOE.upper()}")
    import_list(editor, LIST.replace("Bodø", f"{ZOE_NAME}'s form"), f"from {ZOE}.csv")
    assert traces(every_cell(site))  # the log named her before
    assert confirmed(admin, f"/subscribers/{number}/erase").status_code == 302
    assert traces(every_cell(site)) == []
    entries = logged(site)
    assert [e[1] for e in entries] == [
        "subscriber.add",
        "subscriber.add",
        "subscriber.unsubscribe",
        "subscriber.export",
        "subscriber.import",
        "subscriber.erase",
    ]
    assert entries[-1] == (ADMIN, "subscriber.erase", str(number), "erased", None, None)
    # Who did what stays: the entries are kept, with the person taken out.
    assert entries[0][:4] == (
        EDITOR,
        "subscriber.add",
        str(number),
        f"Added {ERASED} <{ERASED}> in caspar",
    )
    assert entries[1][3] == "Added Ann <ann@example.org> in caspar"  # others are kept
    assert entries[4][5]["file"] == f"from {ERASED}.csv"


@pytest.fixture
def run(engine, monkeypatch):
    monkeypatch.setenv("DIGEST_SECRET_KEY", KEY)
    db = engine.url.render_as_string(hide_password=False)

    def invoke(*args: str):
        result = CliRunner().invoke(cli, ["--db", db, "subscribers", *args], input="y\n")
        assert result.exit_code == 0, result.output
        return result

    return invoke


def test_the_command_line_leaves_one_entry_per_change_naming_the_user(
    site: Site, run, tmp_path: Path
) -> None:
    listed = tmp_path / "list.csv"
    listed.write_text(LIST, encoding="utf-8")
    run("add", ZOE, "--newsletter", "new-in-the-library", "--name", ZOE_NAME, "--source", "phone")
    run("import", str(listed), "--newsletter", "caspar")
    run("export", "--newsletter", "caspar", "--out", str(tmp_path / "out.csv"))
    number = zoe_id(site)
    run("erase", ZOE)
    entries = logged(site)
    assert [(actor, action) for actor, action, *_ in entries] == [
        (cli_actor(), "subscriber.add"),
        (cli_actor(), "subscriber.import"),
        (cli_actor(), "subscriber.export"),
        (cli_actor(), "subscriber.erase"),
    ]
    assert entries[1][5]["file"] == "list.csv" and entries[1][5]["new"] == 2
    assert entries[2][5] == {"newsletter": "caspar", "rows": 2, "search": ""}
    assert entries[3][2:4] == (str(number), "erased")
    assert traces(every_cell(site)) == []


def test_every_subscriber_action_is_in_the_audit_pages_filter(site: Site) -> None:
    (group,) = [actions for kind, actions in audit.action_groups() if kind == "subscriber"]
    assert group == [a.value for a in sorted(audit.Action) if a.startswith("subscriber.")]
    assert set(group) >= {
        "subscriber.add",
        "subscriber.erase",
        "subscriber.export",
        "subscriber.import",
        "subscriber.unsubscribe",
    }


@pytest.mark.parametrize("query", ["object=subscriber", "action=subscriber."])
def test_the_audit_page_shows_subscriber_changes_when_filtered_for_them(
    site: Site, query: str
) -> None:
    editor = site.client(Role.EDITOR)
    add(editor)
    export_subscribers(editor, "newsletter=caspar")
    with transaction(site.factory) as session:  # a change of another kind, to be left out
        audit.record(
            session,
            actor=EDITOR,
            action=audit.Action.TOPIC_RENAME,
            object_type=audit.ObjectType.TOPIC,
            object_id=1,
            summary="Renamed a topic",
        )
    page = html.unescape(site.client(Role.ADMIN).get(f"/admin/audit?{query}").text)
    assert f"Added {ZOE_NAME} <{ZOE}> in caspar" in page
    assert "Exported 1 subscriber of caspar" in page
    assert page.count("subscriber.add") >= 1 and "Renamed a topic" not in page


def test_erasure_forgets_the_address_anywhere_but_leaves_staff_accounts_and_other_people(
    factory,
) -> None:
    """The address goes from an entry of any kind; a staff account with the same address keeps
    its entries; the name goes only as a whole (Ann, not the Ann in Annabel)."""

    def entry(kind: audit.ObjectType, action: audit.Action, summary: str, after: dict) -> None:
        audit.record(
            session,
            actor=EDITOR,
            action=action,
            object_type=kind,
            object_id=1,
            summary=summary,
            after=after,
        )

    with transaction(factory) as session:
        caspar = session.scalar(select(Newsletter).where(Newsletter.slug == "caspar"))
        lists.add_subscriber(session, caspar, "ann@例え.jp", "Ann", [], "phone", KEY, actor="t")
        lists.add_subscriber(
            session, caspar, "bel@example.org", "Annabel", [], "phone", KEY, actor="t"
        )
        entry(audit.ObjectType.ITEM, audit.Action.ITEM_EDIT, "note", {"note": "from ANN@例え.jp"})
        entry(audit.ObjectType.USER, audit.Action.USER_CREATE, "ann@例え.jp", {"role": "editor"})
    with transaction(factory) as session:
        privacy.erase(session, "ann@例え.jp", KEY, actor="admin@example.org")
    with factory() as session:
        found = {
            e.action: (e.summary, e.after)
            for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))
        }
    assert found["item.edit"] == ("note", {"note": f"from {ERASED}"})
    assert found["user.create"] == ("ann@例え.jp", {"role": "editor"})
    assert found["subscriber.add"][0] == "Added Annabel <bel@example.org> in caspar"
