"""The staff web app: Flask, server-rendered pages, htmx for in-place actions.

Views stay thin: they read the request, call the pipeline stages and render a template.
"""

from __future__ import annotations

import gc
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from flask import Flask, Response, g, request
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.middleware.proxy_fix import ProxyFix

from digest.db import make_engine, session_factory
from digest.delivery.notices import NoticeMailer
from digest.delivery.transport import Transport, Transports
from digest.editions.schedule import send_words
from digest.ingest.urls import reader_link
from digest.settings import Settings
from digest.subscriptions import requests
from digest.web import context, errors, inputs, security
from digest.web.background import RequestSender
from digest.wording import install_filters

TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "pages"


class Component(Protocol):
    """A part of the service running beside the web app in this process (the scheduler, a
    worker), which `/healthz` reports on."""

    def problem(self) -> str | None:
        """None while it runs; else what is wrong, in a few words."""
        ...


def create_app(
    settings: Settings,
    *,
    config: dict[str, Any] | None = None,
    transports: Transports | None = None,
    components: Sequence[Component] = (),
) -> Flask:
    """The app, run as `settings` say. `transports` are the mail transports of the config
    (`Transport.all_from`), through which each newsletter's notices and test sends go;
    without them, only the default one. `components` are the other parts this process runs
    (`digest run`), which `/healthz` reports on."""
    app = Flask(__name__, template_folder=str(TEMPLATES))
    app.config.update(
        SECRET_KEY=settings.secret(),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.https,
        SESSION_COOKIE_NAME="digest_session",
        WTF_CSRF_TIME_LIMIT=None,  # valid for the session's life; the session itself expires
        # (`SESSION_LIMITS`, checked on the server)
        MAX_CONTENT_LENGTH=5 * 1024 * 1024,
        DATABASE_URL=settings.database_url,
        DEMO=settings.demo,
        SESSION_LIMITS=security.SessionLimits(settings.session_idle, settings.session_lifetime),
    )
    app.config.update(config or {})
    app.jinja_env.filters["reader_link"] = reader_link  # an href only ever gets http(s)
    install_filters(app.jinja_env, settings.timezone)  # one clock and one way to write it
    app.jinja_env.filters["send_words"] = send_words
    app.session_interface = security.SessionCookies()
    if proxies := settings.trusted_proxies:
        # The visitor's address (rate limits, consent records, sign-in throttling) and scheme
        # (the Secure cookie) from that many proxies' headers; without this setting those
        # headers are ignored, since anyone can send them.
        behind = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)
        app.wsgi_app = behind  # type: ignore[method-assign]
    csrf = CSRFProtect(app)
    inputs.install(app)
    sessions = session_factory(make_engine(settings.database_url))
    transports = transports or Transport.all_from([], settings)
    app.extensions["digest.sessions"] = sessions
    app.extensions[context.SETTINGS] = settings
    app.extensions[context.TRANSPORTS] = transports  # for notices and test sends
    app.extensions["digest.mail_requests"] = RequestSender(
        sessions,
        requests.Mail(
            settings.link_keys(), settings.mail, NoticeMailer(transports), settings.secret()
        ),
    )
    _wire_requests(app, sessions)

    from digest.web import (
        admin,
        auth,
        dashboard,
        duplicates,
        editions,
        outbox,
        public,
        research,
        subscribers,
        triage,
    )

    for blueprint in (
        auth.blueprint,
        dashboard.blueprint,
        triage.blueprint,
        research.blueprint,
        duplicates.blueprint,
        admin.blueprint,
        editions.blueprint,
        subscribers.blueprint,
        outbox.blueprint,
        public.blueprint,
    ):
        app.register_blueprint(blueprint)
    # RFC 8058: mail providers POST the one-click unsubscribe with no cookie and no form token;
    # the signed link is the credential.
    csrf.exempt(public.unsubscribe)
    csrf.exempt(public.subscribe_embedded)

    @app.get("/healthz")
    @security.public
    def healthz() -> tuple[str, int, dict[str, str]]:
        """200 when the database answers and every part this process runs is running; else
        503, with a line for each thing wrong."""
        problems = [p for p in (c.problem() for c in components) if p]
        try:
            g.db.execute(text("SELECT 1"))
        except Exception:  # any failure to reach the database is "unhealthy"
            problems.insert(0, "database unreachable")
        plain = {"Content-Type": "text/plain; charset=utf-8"}
        if problems:
            return "".join(f"{p}\n" for p in problems), 503, plain
        return "ok\n", 200, plain

    return app


def settle_for_serving() -> None:
    """For a process that serves the app until it stops (`digest serve`, `digest run`), once
    the app is built. What was loaded by then (modules, models, the config: some 150,000
    objects) lives as long as the process, yet each full garbage collection walked all of it
    again, every few dozen requests: a pause of a tenth of a second or more in whichever
    request was running. Frozen, it is left out of collections; what requests make is not."""
    gc.collect()
    gc.freeze()


def _wire_requests(app: Flask, sessions: sessionmaker[Session]) -> None:
    security.refuse_writes_when_looking(sessions)
    inputs.refuse_overlong(sessions)

    @app.before_request
    def open_session() -> Response | None:
        g.db = sessions()
        try:
            security.load_user()
        except Exception:
            g.user = None  # the database is down: /healthz says so, other pages fail below
        if request.method in security.LOOKING:
            g.db.info[security.LOOKING_ONLY] = True
        return security.check_access(app) or inputs.refuse_nul()

    @app.teardown_request
    def close_session(_exc: BaseException | None) -> None:
        db = g.pop("db", None)
        if db is not None:
            db.close()

    app.after_request(security.add_security_headers)

    errors.install(app)

    @app.context_processor
    def template_globals() -> dict[str, Any]:
        from digest.models import Role

        return {"current_user": g.get("user"), "Role": Role}
