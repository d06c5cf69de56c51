"""The settings: every option declared once, documented in the README, read from the
environment nowhere else, with its default and its refusal of a value it cannot use."""

from __future__ import annotations

import ast
import re
import stat
from datetime import timedelta
from pathlib import Path

import pytest

from digest.settings import OPTIONS, SettingError, read_settings

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "digest"
# Where reading the environment is right, besides digest/settings.py: (module, function).
ALLOWED_READS = {
    # `${NAME}` in a transport URL of the config file, replaced when the transport opens.
    ("delivery/transport.py", "_expand"),
    # COLUMNS, the terminal's width: rich's business, not a setting of Digest's.
    ("cli/__init__.py", "_console"),
}


def documented_variables() -> set[str]:
    """The DIGEST_ variables named in the first column of the README's Environment table."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Environment\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return {name for row in rows for name in re.findall(r"`(DIGEST_\w+)`", row.split("|")[1])}


def test_every_option_is_documented_and_every_documented_variable_is_an_option() -> None:
    declared = {option.env for option in OPTIONS}
    assert len(declared) == len(OPTIONS), "an environment variable declared twice"
    documented = documented_variables()
    assert declared - documented == set(), "options the README's Environment table leaves out"
    assert documented - declared == set(), "variables in the README that are no option"


def _environment_reads(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, outermost enclosing function) of each `os.environ`, `getenv` and `environ`
    import."""
    found: list[tuple[int, str]] = []

    def walk(node: ast.AST, function: str) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and not function:
            function = node.name
        reads = (
            (isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv", "environb"))
            or (isinstance(node, ast.Name) and node.id in ("environ", "getenv"))
            or (
                isinstance(node, ast.ImportFrom)
                and node.module == "os"
                and any(a.name in ("environ", "getenv") for a in node.names)
            )
        )
        if reads:
            found.append((node.lineno, function))
        for child in ast.iter_child_nodes(node):
            walk(child, function)

    walk(tree, "")
    return found


def test_only_the_settings_module_reads_the_environment() -> None:
    stray = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = path.relative_to(PACKAGE).as_posix()
        if module == "settings.py":
            continue
        for line, function in _environment_reads(ast.parse(path.read_text(encoding="utf-8"))):
            if (module, function) not in ALLOWED_READS:
                stray.append(f"digest/{module}:{line}")
    assert stray == [], "read the environment through digest.settings instead"


def test_each_option_has_its_default_when_unset_or_blank() -> None:
    settings = read_settings({"DIGEST_BASE_URL": "  ", "DIGEST_MAIL_URL": ""})
    assert settings.config_path == "feeds.yaml"
    assert settings.database_url == "sqlite:///var/digest.sqlite"
    assert settings.base_url == "http://127.0.0.1:8000"
    assert settings.secret_key is None and settings.token_keys == ()
    assert settings.mail_url == "maildir:var/mail" and settings.mail_connections == 4
    assert settings.bounce_mailbox is None
    assert settings.send_grace == timedelta(hours=6)
    assert settings.delivery_retention == timedelta(days=90)
    assert not settings.demo and not settings.https and settings.trusted_proxies == 0
    assert settings.session_idle == timedelta(hours=8)
    assert settings.session_lifetime == timedelta(days=7)
    assert settings.max_entries_per_feed == 500
    assert settings.log_file == Path("var/log/digest.log")


def test_values_from_the_environment_and_given_ones() -> None:
    env = {
        "DIGEST_BASE_URL": "https://digest.example.org/",
        "DIGEST_TOKEN_KEYS": " old , new ,",
        "DIGEST_SEND_GRACE_MINUTES": "0",
        "DIGEST_DEMO": "1",
        "DIGEST_SECRET_KEY_FILE": "/etc/digest/key",
    }
    settings = read_settings(env, demo=False)
    assert settings.base_url == "https://digest.example.org"
    assert settings.mail.base_url == "https://digest.example.org"
    assert settings.token_keys == ("old", "new") and settings.link_keys() == ["old", "new"]
    assert settings.send_grace == timedelta(0)
    assert settings.demo is False  # what is given overrides the environment
    assert settings.secret_key_file == Path("/etc/digest/key")
    with pytest.raises(TypeError, match="no such setting: colour"):
        read_settings({}, colour="blue")


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (
            "DIGEST_SESSION_IDLE_MINUTES",
            "abc",
            "DIGEST_SESSION_IDLE_MINUTES must be a whole number above 0, not 'abc'",
        ),
        (
            "DIGEST_SESSION_MAX_HOURS",
            "0",
            "DIGEST_SESSION_MAX_HOURS must be a whole number above 0, not '0'",
        ),
        (
            "DIGEST_TRUSTED_PROXIES",
            "-1",
            "DIGEST_TRUSTED_PROXIES must be a whole number of 0 or more, not '-1'",
        ),
        (
            "DIGEST_TRUSTED_PROXIES",
            "6",
            "DIGEST_TRUSTED_PROXIES must be at most 5 (the number of proxies in front of "
            "Digest), not 6",
        ),
        (
            "DIGEST_MAX_ENTRIES_PER_FEED",
            "20001",
            "DIGEST_MAX_ENTRIES_PER_FEED must be a whole number from 1 to 20,000, not '20001'",
        ),
        (
            "DIGEST_MAX_ENTRIES_PER_FEED",
            "x" * 100,
            f"DIGEST_MAX_ENTRIES_PER_FEED must be a whole number from 1 to 20,000, not "
            f"'{'x' * 40}'",
        ),
        (
            "DIGEST_MAIL_CONNECTIONS",
            "four",
            "DIGEST_MAIL_CONNECTIONS must be a whole number above 0, not 'four'",
        ),
        (
            "DIGEST_SEND_GRACE_MINUTES",
            "-5",
            "DIGEST_SEND_GRACE_MINUTES must be a whole number of 0 or more, not '-5'",
        ),
        (
            "DIGEST_DELIVERY_RETENTION_DAYS",
            "90 days",
            "DIGEST_DELIVERY_RETENTION_DAYS must be a whole number of 0 or more, not '90 days'",
        ),
    ],
)
def test_a_value_that_cannot_be_used_is_refused_by_name(name, value, message) -> None:
    with pytest.raises(SettingError) as refused:
        read_settings({name: value})
    assert str(refused.value) == message


def test_reading_the_settings_makes_no_key_file(tmp_path) -> None:
    key_file = tmp_path / "config" / "digest" / "secret_key"
    settings = read_settings({"XDG_CONFIG_HOME": str(tmp_path / "config")})
    assert settings.secret_key_file == key_file
    assert not key_file.parent.exists()  # `digest --help` and `digest init` need no key
    key = settings.secret()
    assert len(key) >= 48 and key_file.read_text() == key
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    again = read_settings({"DIGEST_SECRET_KEY_FILE": str(key_file)})
    assert again.secret() == key and again.link_keys() == [key]
    assert read_settings({"DIGEST_SECRET_KEY": "given"}).secret() == "given"


def test_secrets_stay_out_of_the_repr() -> None:
    shown = repr(read_settings({}, secret_key="s3cret", mail_url="smtp://u:pw@host:25"))
    assert "s3cret" not in shown and "pw@" not in shown
