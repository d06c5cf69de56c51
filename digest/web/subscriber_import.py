"""Importing a subscriber list on the web, in two steps: the upload gets a preview of what the
import would do (a dry run of the command line's own import, nothing written), then "Import"
applies it. The file waits in between under a token (`uploads`); the import is undone and the
preview shown again if the file or the subscribers changed since it was shown, so that what
is applied is what was previewed."""

from __future__ import annotations

from flask import Response, flash, g, redirect, render_template, request
from flask import url_for as url
from werkzeug.exceptions import RequestEntityTooLarge

from digest import csvfiles
from digest.errors import NotFound, Refused
from digest.models import Newsletter, Role
from digest.models.lookup import find_newsletter
from digest.subscriptions import lists
from digest.subscriptions.listfiles import MAX_SOURCE
from digest.subscriptions.listreport import ImportReport, Outcome
from digest.subscriptions.overview import newsletters
from digest.web import uploads
from digest.web.context import settings
from digest.web.security import requires
from digest.wording import count, sentence

# The largest file taken on the web, under the app's limit on a whole request (5 MiB): about
# 30,000 rows of our export with every column filled (3.9 MB for 29,000 such rows).
# A longer list is for `digest subscribers import`.
MAX_UPLOAD = 4 * 1024 * 1024
TOO_LARGE = (
    "The file is larger than the 4 MB the web import takes (about 30,000 rows of Digest’s export). "
    "Split it into smaller files, or import it with the command digest subscribers import."
)


@requires(Role.EDITOR)
def upload() -> str | tuple[str, int]:
    return _form({}, {})


def _form(
    values: dict[str, str], problems: dict[str, str], status: int = 200
) -> str | tuple[str, int]:
    page = render_template(
        "subscribers_import.html",
        values=values,
        problems=problems,
        newsletters=newsletters(g.db),
        max_upload=MAX_UPLOAD,
    )
    return (page, status) if status != 200 else page


def too_large(_error: RequestEntityTooLarge) -> tuple[str, int]:
    """A request over the app's whole limit, refused before any view ran."""
    return render_template("error.html", code=413, message=TOO_LARGE), 413


@requires(Role.EDITOR)
def preview() -> str | tuple[str, int]:
    """Keep the upload and show what importing it would do; nothing is written."""
    values = {k: request.form.get(k, "") for k in ("newsletter", "source")}
    problems: dict[str, str] = {}
    newsletter = find_newsletter(g.db, values["newsletter"])
    if newsletter is None:
        problems["newsletter"] = "Choose the newsletter these people subscribe to."
    file = request.files.get("file")
    data = file.stream.read(MAX_UPLOAD + 1) if file and file.filename else b""
    if not data:
        problems["file"] = "Choose a CSV file to import (an empty file has no one in it)."
    elif len(data) > MAX_UPLOAD:
        problems["file"] = TOO_LARGE
    name = (file.filename if file else "") or "upload.csv"
    origin = values["source"].strip() or f"web import of {name} by {g.user.email}"[:MAX_SOURCE]
    try:
        lists.check_origin(origin)
    except ValueError as exc:
        problems["source"] = sentence(str(exc))
    if problems:
        return _form(values, problems, 400)
    assert newsletter is not None
    fields = {"newsletter": newsletter.slug, "origin": origin, "source": values["source"]}
    kept = uploads.keep(data, g.user.id, name, fields)
    return _preview(kept, newsletter)


def _preview(
    kept: uploads.Upload, newsletter: Newsletter, changed: str = ""
) -> str | tuple[str, int]:
    origin = kept.fields["origin"]
    try:
        with csvfiles.open_csv(kept.path) as found:
            report = lists.import_csv(
                g.db,
                found,
                newsletter,
                origin,
                settings().secret(),
                actor=g.user.email,
                file_name=kept.name,
                dry_run=True,
            )
    except csvfiles.CsvFileError as exc:
        uploads.discard(kept)
        values = {"newsletter": newsletter.slug, "source": kept.fields["source"]}
        problems = {"file": f"{kept.name}: {exc}. Nothing was imported."}
        return _form(values, problems, 400)
    finally:
        g.db.rollback()  # a dry run wrote nothing; end its reading
    return render_template(
        "subscribers_import_preview.html",
        upload=kept,
        newsletter=newsletter,
        report=report,
        encoding=found.encoding if found.encoding not in _UTF else None,
        groups=_groups(report),
        counted=[
            (outcome, f"{report.outcomes[outcome]:,}", _COUNTED[outcome][n != 1])
            for outcome, n in ((o, report.outcomes[o]) for o in _COUNTED)
        ],
        notes=[sentence(note) for note in report.notes],
        changed=changed,
        take=count(report.taken, "person", "people"),
        Outcome=Outcome,
    )


_UTF = ("utf-8", "utf-8-sig", "utf-16", "utf-32")
_COUNTED = {  # how each outcome's count reads: one, many
    Outcome.NEW: ("new to the newsletter", "new to the newsletter"),
    Outcome.UPDATED: ("updated", "updated"),
    Outcome.UNCHANGED: ("already subscribed, unchanged", "already subscribed, unchanged"),
    Outcome.LEFT: ("recorded as having left", "recorded as having left"),
    Outcome.HELD_BACK: ("held back", "held back"),
    Outcome.BAD: ("bad row", "bad rows"),
}
_HEADINGS = {
    Outcome.NEW: "New to the newsletter",
    Outcome.UPDATED: "Updated",
    Outcome.UNCHANGED: "Already subscribed, unchanged",
    Outcome.LEFT: "Recorded as having left (put on the suppression list)",
    Outcome.HELD_BACK: "Held back: on the suppression list, or left earlier",
    Outcome.BAD: "Bad rows, not imported",
}


def _groups(report: ImportReport) -> list[tuple[Outcome, str, int, list[object]]]:
    return [
        (outcome, heading, report.outcomes[outcome], list(report.listed.get(outcome, [])))
        for outcome, heading in _HEADINGS.items()
    ]


@requires(Role.EDITOR)
def apply() -> str | tuple[str, int] | Response:
    """Import the previewed file, if importing it does what the preview said."""
    try:
        kept = uploads.find(request.form.get("upload", ""), g.user.id)
    except (NotFound, Refused) as exc:
        flash(sentence(f"Not imported: {exc}"), "error")
        return redirect(url("subscribers.upload"))
    newsletter = find_newsletter(g.db, kept.fields["newsletter"])
    if newsletter is None:
        uploads.discard(kept)
        flash("Not imported: the newsletter no longer exists.", "error")
        return redirect(url("subscribers.upload"))
    with csvfiles.open_csv(kept.path) as found:
        report = lists.import_csv(
            g.db,
            found,
            newsletter,
            kept.fields["origin"],
            settings().secret(),
            actor=g.user.email,
            file_name=kept.name,
        )
    if report.fingerprint != request.form.get("fingerprint"):
        g.db.rollback()
        return _preview(
            kept,
            newsletter,
            "Not imported: the subscribers changed since the preview was shown (someone "
            "signed up or left, say). This is what importing would do now; check it and "
            "import again.",
        )
    g.db.commit()
    uploads.discard(kept)
    flash(_done(report, newsletter.title), "success")
    return redirect(url("subscribers.index"))


def _done(report: ImportReport, title: str) -> str:
    parts = [
        f"{report.outcomes[Outcome.NEW]:,} new",
        f"{report.outcomes[Outcome.UPDATED]:,} updated",
        f"{report.outcomes[Outcome.UNCHANGED]:,} unchanged",
    ]
    if report.outcomes[Outcome.LEFT]:
        parts.append(f"{report.outcomes[Outcome.LEFT]:,} recorded as having left")
    left_out = []
    if held := report.outcomes[Outcome.HELD_BACK]:
        left_out.append(f"{count(held, 'row')} held back")
    if bad := report.outcomes[Outcome.BAD]:
        left_out.append(count(bad, "bad row"))
    rest = f" Left out: {' and '.join(left_out)}." if left_out else ""
    return (
        f"Imported {count(report.taken, 'person', 'people')} into {title}: "
        f"{', '.join(parts)}.{rest}"
    )
