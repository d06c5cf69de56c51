"""Secret keys: the one that signs cookies, and the ones that sign subscriber links."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def secret_key() -> str:
    """The key that signs cookies and CSRF tokens: from DIGEST_SECRET_KEY, else from a file
    outside the project (DIGEST_SECRET_KEY_FILE, by default in the user's config folder),
    made on first use. There is never a default key in the code."""
    if key := os.environ.get("DIGEST_SECRET_KEY"):
        return key
    config_home = Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config"))
    path = Path(os.environ.get("DIGEST_SECRET_KEY_FILE", config_home / "digest" / "secret_key"))
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def token_keys() -> list[str]:
    """Keys for subscriber links, oldest first: DIGEST_TOKEN_KEYS (comma-separated) lets old
    links keep working after a new key is added at the end; otherwise the secret key."""
    listed = [k.strip() for k in os.environ.get("DIGEST_TOKEN_KEYS", "").split(",") if k.strip()]
    return listed or [secret_key()]
