"""A newsletter's look on its email and public pages: its colour (readable under white text,
WCAG AA) and its logo (an https address or a file under the web app's static folder)."""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

HEX_COLOUR = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
AA_CONTRAST = 4.5  # WCAG 2 level AA for normal text: the masthead's text is white on the colour
STATIC = Path(__file__).resolve().parents[1] / "web" / "static"
LOGO_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp"})


def _channel(value: int) -> float:
    c = value / 255
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def rgb(colour: str) -> tuple[int, int, int]:
    digits = colour.lstrip("#")
    if len(digits) == 3:
        digits = "".join(d * 2 for d in digits)
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)


def luminance(colour: str) -> float:
    r, g, b = (_channel(c) for c in rgb(colour))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_with_white(colour: str) -> float:
    return 1.05 / (luminance(colour) + 0.05)


def darkened(colour: str) -> str:
    """The nearest darker shade of `colour` that white text is readable on (AA)."""
    r, g, b = rgb(colour)
    for step in range(100, -1, -1):
        shade = "#{:02x}{:02x}{:02x}".format(*(round(c * step / 100) for c in (r, g, b)))
        if contrast_with_white(shade) >= AA_CONTRAST:
            return shade
    return "#000000"


def check_colour(value: str) -> str:
    """`value` as "#rrggbb" in lower case, or ValueError saying what to write instead."""
    if not HEX_COLOUR.match(value):
        raise ValueError(f"{value!r} is not a CSS hex colour such as #0b3d6b")
    colour = "#" + "".join(f"{c:02x}" for c in rgb(value))
    ratio = contrast_with_white(colour)
    if ratio < AA_CONTRAST:
        raise ValueError(
            f"{value} is too light for the white text written on it (contrast {ratio:.2f}:1, "
            f"where readers need at least {AA_CONTRAST}:1); a darker shade such as "
            f"{darkened(colour)} passes"
        )
    return colour


def check_logo(value: str, static: Path = STATIC) -> str:
    """An https address with a host, or the path of an image file under the static folder
    (such as `logos/caspar.png`), or ValueError saying why not."""
    if "://" in value:
        parts = urlsplit(value)
        if parts.scheme.lower() != "https" or not parts.hostname:
            raise ValueError(
                f"{value!r}: a logo's address must start with https:// and name a host"
            )
        return value
    path = PurePosixPath(value)
    if path.is_absolute() or ".." in path.parts or "\\" in value or not value:
        raise ValueError(
            f"{value!r}: give an https:// address, or a path inside the web app's static "
            "folder such as logos/caspar.png"
        )
    if path.suffix.lower() not in LOGO_SUFFIXES:
        raise ValueError(f"{value!r}: a logo must be a {', '.join(sorted(LOGO_SUFFIXES))} file")
    if not (static / path).is_file():
        raise ValueError(f"{value!r}: there is no such file in the web app's static folder")
    return value
