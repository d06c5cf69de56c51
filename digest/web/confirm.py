"""A second step for actions that cannot be taken back: the form posts once, gets a page that
names the consequence, and acts only when posted again with the person's "yes". It needs no
script, so it works the same with JavaScript off and under the Content-Security-Policy."""

from __future__ import annotations

from flask import render_template, request

CONFIRMED = "confirmed"


def confirmed() -> bool:
    """Whether this post carries the person's answer to the confirmation page."""
    return request.form.get(CONFIRMED) == "yes"


def ask(
    question: str, *, yes: str, back: str, detail: str = "", final: bool = True
) -> tuple[str, int]:
    """The confirmation page for the form just posted: `question` names the consequence
    ("Send to 27,312 subscribers now?"), `yes` labels the button that acts, `back` is where
    "No" leads; `final` says it cannot be undone. The form's own fields are posted again
    unchanged."""
    fields = [
        (name, value)
        for name, value in request.form.items(multi=True)
        if name not in ("csrf_token", CONFIRMED)
    ]
    page = render_template(
        "confirm.html",
        question=question,
        detail=detail,
        final=final,
        yes=yes,
        back=back,
        action=request.path,
        fields=fields,
    )
    # 200, not 4xx: nothing went wrong, the person is being asked.
    return page, 200
