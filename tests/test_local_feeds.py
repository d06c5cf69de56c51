"""Feeds read from files on this machine: only the config file may name one, and then only a
regular file is read, within the size cap, never waiting on a pipe or a device. An OPML file or
a web form naming a path (or a file:// address) is refused, saying so, and nothing is added."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import pytest
from feedfactory import rss, sample_entries
from sqlalchemy import select
from webapp import Site, csrf_token, make_site

from digest.config import load_config, sync_config
from digest.db import transaction
from digest.ingest.errors import ErrorKind
from digest.ingest.fetch import FetchSettings
from digest.ingest.opml import import_opml
from digest.ingest.poll import poll_feeds
from digest.models import Feed, Role

DATA = Path(__file__).parent / "data"
SETTINGS = FetchSettings(connect_timeout=1, total_timeout=5, max_body_bytes=64 * 1024)
LOCAL = ["/etc/passwd", "/dev/zero", "file:///etc/passwd", "FILE:///dev/zero", "feeds/x.xml"]
REFUSAL = "a local file can be named only in the config file"


def _opml(urls: list[str]) -> bytes:
    outlines = "".join(
        f'<outline type="rss" text="Feed {n}" xmlUrl="{url}"/>' for n, url in enumerate(urls)
    )
    return (
        '<?xml version="1.0"?><opml version="2.0"><head><title>x</title></head>'
        f"<body>{outlines}</body></opml>"
    ).encode()


def _feeds(factory) -> dict[str, str]:
    with factory() as session:
        return {f.name: f.url for f in session.scalars(select(Feed))}


def test_opml_naming_local_files_adds_only_the_web_feeds(factory) -> None:
    with transaction(factory) as session:
        report = import_opml(session, _opml([*LOCAL, "https://example.org/feed"]), "caspar", "News")
    assert report.added == [f"Feed {len(LOCAL)}"]
    assert len(report.skipped) == len(LOCAL)
    for line in report.skipped:
        assert REFUSAL in line and "\n" not in line
    assert list(_feeds(factory).values()) == ["https://example.org/feed"]


@pytest.fixture
def site(factory) -> Site:
    return make_site(factory)


def _form(token: str, url: str) -> dict[str, object]:
    return {
        "name": "Local",
        "url": url,
        "newsletter": "caspar",
        "section": "News",
        "poll_interval": "2h",
        "enabled": "on",
        "csrf_token": token,
    }


@pytest.mark.parametrize("url", LOCAL)
def test_the_feed_form_refuses_a_local_file(site: Site, url: str) -> None:
    client = site.client(Role.ADMIN)
    response = client.post("/admin/feeds/new", data=_form(csrf_token(client, "/"), url))
    assert response.status_code == 400 and REFUSAL in response.text
    assert _feeds(site.factory) == {}


def test_editing_a_web_feed_to_a_local_file_is_refused(site: Site) -> None:
    client = site.client(Role.ADMIN)
    token = csrf_token(client, "/")
    client.post("/admin/feeds/new", data=_form(token, "https://example.org/feed"))
    with site.factory() as session:
        feed_id = session.scalar(select(Feed.id))
    response = client.post(f"/admin/feeds/{feed_id}/edit", data=_form(token, "/dev/zero"))
    assert response.status_code == 400 and REFUSAL in response.text
    assert _feeds(site.factory) == {"Local": "https://example.org/feed"}


def test_the_opml_upload_form_refuses_local_files(site: Site) -> None:
    client = site.client(Role.ADMIN)
    page = client.post(
        "/admin/feeds/import-opml",
        data={
            "opml": (io.BytesIO(_opml(["/etc/passwd"])), "reader.opml"),
            "newsletter": "caspar",
            "section": "News",
            "csrf_token": csrf_token(client, "/"),
        },
        content_type="multipart/form-data",
        follow_redirects=True,
    ).text
    assert REFUSAL in page
    assert _feeds(site.factory) == {}


def _config_with_feeds(tmp_path: Path, paths: dict[str, str]) -> Path:
    feeds = "".join(
        f"  - name: {name}\n    url: {url}\n    newsletter: caspar\n    section: News\n"
        for name, url in paths.items()
    )
    config = tmp_path / "feeds.yaml"
    config.write_text(f"extends: {DATA / 'config.yaml'}\nfeeds:\n{feeds}", encoding="utf-8")
    return config


def test_a_config_named_local_feed_can_still_be_edited_from_the_form(
    site: Site, tmp_path: Path
) -> None:
    (tmp_path / "feed.xml").write_bytes(rss(sample_entries()))
    config = _config_with_feeds(tmp_path, {"Local": "feed.xml"})
    with transaction(site.factory) as session:
        sync_config(session, load_config(config))
    with site.factory() as session:
        feed_id, url = session.execute(select(Feed.id, Feed.url)).one()
    client = site.client(Role.ADMIN)
    form = {**_form(csrf_token(client, "/"), url), "poll_interval": "1d"}
    assert client.post(f"/admin/feeds/{feed_id}/edit", data=form).status_code == 302
    with site.factory() as session:
        assert session.get_one(Feed, feed_id).poll_interval_minutes == 1440


def test_config_named_paths_are_read_only_when_regular_files(tmp_path: Path, factory) -> None:
    (tmp_path / "good.xml").write_bytes(rss(sample_entries(count=2)))
    (tmp_path / "big.xml").write_bytes(rss(sample_entries(count=2000)))
    os.mkfifo(tmp_path / "pipe.xml")
    (tmp_path / "zero.xml").symlink_to("/dev/zero")
    (tmp_path / "folder.xml").mkdir()
    config = _config_with_feeds(
        tmp_path,
        {
            "Good": "good.xml",
            "Good by URL": (tmp_path / "good.xml").as_uri(),
            "Too big": "big.xml",
            "Pipe": "pipe.xml",
            "Device": "/dev/zero",
            "Symlink to a device": "zero.xml",
            "Folder": "folder.xml",
            "Missing": "missing.xml",
        },
    )
    with transaction(factory) as session:
        sync_config(session, load_config(config))
    started = time.perf_counter()
    outcomes = {o.name: o for o in poll_feeds(factory, settings=SETTINGS).outcomes}
    assert time.perf_counter() - started < 10  # the pipe has no writer: nothing waited on it
    for name in ("Good", "Good by URL"):  # the same file: one stores, the other finds them
        counts = outcomes[name].counts
        assert outcomes[name].problem is None and counts.new + counts.duplicate == 2
    expected = {
        "Too big": (ErrorKind.TOO_LARGE, "is larger than 64 KiB"),
        "Pipe": (ErrorKind.FILE, "is a named pipe, not a regular file"),
        "Device": (ErrorKind.FILE, "/dev/zero is a device, not a regular file"),
        "Symlink to a device": (ErrorKind.FILE, "is a device, not a regular file"),
        "Folder": (ErrorKind.FILE, "is a directory, not a regular file"),
        "Missing": (ErrorKind.FILE, "cannot be read: No such file or directory"),
    }
    for name, (kind, words) in expected.items():
        assert outcomes[name].problem.kind is kind, name
        assert words in outcomes[name].problem.message, (name, outcomes[name].problem.message)
