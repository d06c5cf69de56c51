"""Staff accounts under hostile or careless use: malformed sign-ins, sessions that end, sign-in
throttling that cannot lock a person out from elsewhere, and what admins can undo."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from webapp import PASSWORD, STAFF, Site, make_site, sign_in

from digest.models import LoginFailure, Role


@pytest.fixture
def site(factory) -> Site:
    return make_site(factory)


def _failures(site: Site) -> int:
    with site.factory() as session:
        return session.scalar(select(func.count()).select_from(LoginFailure))


@pytest.mark.parametrize(
    "email",
    [
        "x" * 330 + "@staff.example.org",
        "admin\x00@staff.example.org",
        "admin@staff.example.org\r\nBcc: someone@example.org",
        "é" * 400_000,
        "",
    ],
    ids=["over-320", "nul", "line-break", "huge", "empty"],
)
def test_a_malformed_email_gets_the_usual_answer_and_is_not_counted(
    site: Site, email: str
) -> None:
    client = site.app.test_client()
    response = sign_in(client, email, PASSWORD)
    assert response.status_code == 401
    assert "That email address and password do not match." in response.text
    assert len(response.data) < 20_000  # the input is not echoed back at length
    assert _failures(site) == 0
    # ...and it costs the real account nothing.
    assert sign_in(client, STAFF[Role.ADMIN], PASSWORD).status_code == 302
