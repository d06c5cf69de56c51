"""Uploaded files kept between a preview and the action it previews: under a random token, in
a folder of this machine that only this user can read, for an hour at most, and given back
only to the member of staff who uploaded them.

The upload is not sent back and forth through the browser: the preview names a token, and
the file's SHA-256, taken when it arrived, is checked again before it is used, so that what is
acted on is the file that was previewed. Several web processes share the folder when they run
on one machine (DIGEST_UPLOAD_DIR names another, shared, one).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import stat
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from digest.errors import NotFound, Refused, Unavailable
from digest.web.context import settings

LIFETIME = 60 * 60  # seconds an upload is kept
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Upload:
    token: str
    path: Path
    owner: int  # the user id of who uploaded it
    name: str  # the file's name as the browser gave it
    sha256: str
    fields: dict[str, str]  # what the form said with it


def _folder() -> Path:
    """The uploads' folder, made private on first use. Unavailable when it is not a folder of
    this user's (a link, or someone else's), as another user could then read the files."""
    configured = settings().upload_dir
    folder = Path(configured or Path(tempfile.gettempdir()) / f"digest-uploads-{os.getuid()}")
    folder.mkdir(mode=0o700, parents=bool(configured), exist_ok=True)
    found = os.lstat(folder)
    if not stat.S_ISDIR(found.st_mode) or found.st_uid != os.getuid():
        raise Unavailable(f"the uploads folder {folder} is not a private folder of Digest's")
    if found.st_mode & 0o077:
        os.chmod(folder, 0o700)
    return folder


def _write_new(path: Path, data: bytes) -> None:
    handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(handle, "wb") as out:
        out.write(data)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as raw:
        while chunk := raw.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def keep(data: bytes, owner: int, name: str, fields: dict[str, str]) -> Upload:
    """Keep `data` for `owner`; forgets uploads older than LIFETIME on the way."""
    folder = _folder()
    _forget_old(folder)
    token = secrets.token_urlsafe(32)
    upload = Upload(
        token, folder / f"{token}.upload", owner, name, hashlib.sha256(data).hexdigest(), fields
    )
    _write_new(upload.path, data)
    about = {"owner": owner, "name": name, "sha256": upload.sha256, "fields": fields}
    _write_new(folder / f"{token}.json", json.dumps(about).encode())
    return upload


def find(token: str, owner: int) -> Upload:
    """The upload `token` names, if `owner` made it and it is still kept; NotFound otherwise.
    Refused when the file is no longer the one that was uploaded."""
    gone = NotFound("that upload is no longer kept (they are kept for an hour): upload it again")
    if not _TOKEN.fullmatch(token):
        raise gone
    folder = _folder()
    path, about_path = folder / f"{token}.upload", folder / f"{token}.json"
    try:
        about = json.loads(about_path.read_bytes())
        age = time.time() - os.stat(path).st_mtime
    except (OSError, ValueError):
        raise gone from None
    if about.get("owner") != owner or age > LIFETIME:
        raise gone
    upload = Upload(token, path, owner, about["name"], about["sha256"], about["fields"])
    if sha256_of(path) != upload.sha256:
        raise Refused("the file changed after it was previewed: upload it again")
    return upload


def discard(upload: Upload) -> None:
    for path in (upload.path, upload.path.with_suffix(".json")):
        path.unlink(missing_ok=True)


def _forget_old(folder: Path) -> None:
    now = time.time()
    for path in folder.iterdir():
        try:
            if now - path.lstat().st_mtime > LIFETIME:
                path.unlink()
        except OSError:
            continue  # another process forgot it first
