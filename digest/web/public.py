"""Public pages for subscribers: one-click unsubscribe (RFC 8058) and the preference centre.

The signed link is the subscriber's only credential: no account, no password, no cookie
needed. A GET never changes anything (mail scanners follow links); a POST does.
"""

from __future__ import annotations

from flask import Blueprint, g, render_template, request
from sqlalchemy import select

from digest.keys import token_keys
from digest.models import SubscriberStatus, Topic
from digest.subscriptions import manage
from digest.subscriptions.tokens import InvalidToken
from digest.web.security import client_ip, public

blueprint = Blueprint("public", __name__)


def _origin(form: str) -> manage.Origin:
    return manage.Origin(form, client_ip(), request.user_agent.string)


def _subscription(token: str):
    try:
        return manage.subscription_for(g.db, token, token_keys())
    except (InvalidToken, LookupError):
        return None


def _invalid() -> tuple[str, int]:
    return render_template("public/invalid_link.html"), 400


@blueprint.route("/u/<token>", methods=["GET", "POST"])
@public
def unsubscribe(token: str) -> str | tuple[str, int]:
    """GET asks; POST (a person's click, or a mail provider's one-click) unsubscribes at once
    and answers 200 without redirecting."""
    subscription = _subscription(token)
    if subscription is None:
        return _invalid()
    if request.method == "GET":
        return render_template(
            "public/unsubscribe.html", subscription=subscription, token=token, done=False
        )
    one_click = request.form.get("List-Unsubscribe") == "One-Click"
    manage.unsubscribe(
        g.db, subscription, _origin("one-click (RFC 8058)" if one_click else "unsubscribe page")
    )
    g.db.commit()
    return render_template(
        "public/unsubscribe.html", subscription=subscription, token=token, done=True
    )


@blueprint.route("/p/<token>", methods=["GET", "POST"])
@public
def preferences(token: str) -> str | tuple[str, int]:
    subscription = _subscription(token)
    if subscription is None:
        return _invalid()
    saved = False
    if request.method == "POST":
        chosen = [int(v) for v in request.form.getlist("topic") if v.isdigit()]
        if request.form.get("action") == "unsubscribe":
            manage.unsubscribe(g.db, subscription, _origin("preference centre"))
        else:
            manage.set_preferences(
                g.db,
                subscription,
                chosen,
                request.form.get("paused") == "on",
                _origin("preference centre"),
            )
        g.db.commit()
        saved = True
    topics = g.db.scalars(select(Topic).where(~Topic.retired).order_by(Topic.label)).all()
    groups: dict[str, list[Topic]] = {}
    for topic in topics:
        parent = topic.parent.label if topic.parent else topic.label
        groups.setdefault(parent, []).append(topic)
    return render_template(
        "public/preferences.html",
        subscription=subscription,
        token=token,
        groups=sorted(groups.items()),
        saved=saved,
        chosen={t.id for t in subscription.topics},
        active=subscription.status is SubscriberStatus.ACTIVE,
    )
