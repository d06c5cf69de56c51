"""Public pages for subscribers: one-click unsubscribe (RFC 8058) and the preference centre.

The signed link is the subscriber's only credential: no account, no password, no cookie
needed. A GET never changes anything (mail scanners follow links); a POST does.
"""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    g,
    render_template,
    request,
    url_for,
)
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from digest.citations import export as citation_export
from digest.curation.topics import grouped_by_parent, offered_topics
from digest.editions import archive as editions_archive
from digest.models import Newsletter, SubscriberStatus, Subscription, Topic
from digest.models.lookup import newsletter_by_slug
from digest.subscriptions import manage, requests, signup
from digest.subscriptions.identity import Voice, library_voice, voice_of
from digest.subscriptions.tokens import (
    TEST_SEND_SUBSCRIPTION,
    InvalidToken,
    check_token,
    subscription_token,
)
from digest.web.context import settings
from digest.web.editions import download
from digest.web.inputs import int_list, optional_int
from digest.web.security import client_ip, is_submission, public
from digest.wording import capitalised

blueprint = Blueprint("public", __name__)


@blueprint.app_context_processor
def _voice() -> dict[str, object]:
    """`voice_for(newsletter)` in every template: who a public page speaks as."""

    def voice_for(newsletter: Newsletter | None) -> Voice:
        if newsletter is not None:
            return voice_of(newsletter)
        db = g.get("db")
        if db is None:
            return Voice(name="Newsletters")
        try:
            # No flush: an error page may be shown for a request whose session holds a
            # change it must not write.
            with db.no_autoflush:
                return library_voice(db)
        except SQLAlchemyError:  # a page saying the database is down still renders
            return Voice(name="Newsletters")

    return {"voice_for": voice_for}


@blueprint.get("/theme/<slug>.css")
@public
def theme(slug: str) -> Response:
    """The newsletter's colour as a CSS variable: a stylesheet, since the pages' policy
    allows no inline style."""
    voice = voice_of(_newsletter(slug))
    response = Response(f":root {{ --brand: {voice.colour}; }}\n", mimetype="text/css")
    response.cache_control.public, response.cache_control.max_age = True, 3600
    return response


def _origin(form: str) -> manage.Origin:
    return manage.Origin(form, client_ip(), request.user_agent.string)


def _subscription(token: str):
    try:
        return manage.subscription_for(g.db, token, settings().link_keys())
    except (InvalidToken, LookupError):
        return None


def _invalid(token: str) -> tuple[str, int]:
    try:
        check_token(token, TEST_SEND_SUBSCRIPTION, None, settings().link_keys())
        from_test_send = True
    except InvalidToken:
        from_test_send = False
    return render_template("public/invalid_link.html", from_test_send=from_test_send), 400


@blueprint.route("/u/<token>", methods=["GET", "POST"])
@public
def unsubscribe(token: str) -> str | tuple[str, int]:
    """GET asks; POST (a person's click, or a mail provider's one-click) unsubscribes at once
    and answers 200 without redirecting."""
    subscription = _subscription(token)
    if subscription is None:
        return _invalid(token)
    if not is_submission():
        return render_template(
            "public/unsubscribe.html", subscription=subscription, token=token, done=False
        )
    one_click = request.form.get("List-Unsubscribe") == "One-Click"
    manage.unsubscribe(
        g.db,
        subscription,
        _origin("one-click (RFC 8058)" if one_click else "unsubscribe page"),
        settings().secret(),
    )
    g.db.commit()
    return render_template(
        "public/unsubscribe.html", subscription=subscription, token=token, done=True
    )


def _other_newsletters(subscription: Subscription) -> list[tuple[Newsletter, str | None]]:
    """Every other newsletter, with a preferences link where this address already has it."""
    mine = {s.newsletter_id: s for s in subscription.subscriber.subscriptions}
    others = []
    for newsletter in g.db.scalars(select(Newsletter).order_by(Newsletter.title)):
        if newsletter.id == subscription.newsletter_id:
            continue
        held = mine.get(newsletter.id)
        link = None
        if held is not None and held.status is SubscriberStatus.ACTIVE:
            link = subscription_token(held.id, held.link_secret, settings().link_keys())
        others.append((newsletter, link))
    return others


def _commit_and_send() -> None:
    """Commit the request; the sender wakes once the answer is made (below)."""
    g.db.commit()
    g.mail_asked = True


@blueprint.teardown_request
def _wake_the_sender(_error: BaseException | None) -> None:
    """The email goes off the request path, and only after the answer is made: were the
    sender to start sooner, its work (which differs for a known and an unknown address)
    would compete with the page's rendering and could show in the answer's time."""
    if g.pop("mail_asked", False):
        current_app.extensions["digest.mail_requests"].wake()


def _change(subscription: Subscription) -> tuple[str, int]:
    """Carry out the preference form's action; the sentence to show, and the status."""
    chosen = int_list("topic")
    action = request.form.get("action")
    origin = _origin("preference centre")
    if action == "unsubscribe":
        manage.unsubscribe(g.db, subscription, origin, settings().secret())
        return "You are unsubscribed.", 200
    if action == "resubscribe":
        form = signup.SignupForm(
            subscription.subscriber.email, subscription.subscriber.name, chosen, origin
        )
        requests.ask_to_sign_up(g.db, subscription.newsletter, form, settings().secret())
        return f"We have emailed {subscription.subscriber.email} a link to confirm.", 200
    if action == "join":
        newsletter = _newsletter(request.form.get("newsletter", ""))
        try:
            joined = signup.join(g.db, subscription, newsletter, origin, settings().secret())
        except signup.JoinRefused as exc:
            return f"Not done: {exc}.", 400
        if joined is signup.Joined.CONFIRMING:
            form = signup.SignupForm(
                subscription.subscriber.email, subscription.subscriber.name, [], origin
            )
            requests.ask_to_sign_up(g.db, newsletter, form, settings().secret())
            return (
                f"You left {newsletter.title} before, so we have emailed "
                f"{subscription.subscriber.email} a link to confirm.",
                200,
            )
        return f"You now receive {newsletter.title}.", 200
    manage.set_preferences(g.db, subscription, chosen, request.form.get("paused") == "on", origin)
    return "Saved.", 200


@blueprint.route("/p/<token>", methods=["GET", "POST"])
@public
def preferences(token: str) -> str | tuple[str, int]:
    subscription = _subscription(token)
    if subscription is None:
        return _invalid(token)
    message, status = None, 200
    if is_submission():
        try:
            message, status = _change(subscription)
        except signup.TooManySignups as exc:
            message, status = f"Not now: {exc}.", 429
        except signup.SignupError as exc:
            message, status = f"Not done: {exc}.", 400
        if status == 200:
            _commit_and_send()
        else:
            g.db.rollback()
    active = subscription.status is SubscriberStatus.ACTIVE
    return render_template(
        "public/preferences.html",
        subscription=subscription,
        token=token,
        groups=grouped_by_parent(offered_topics(g.db)),
        message=message,
        # A failure and a success look different: "error" or "success", as a flash's category.
        message_category="error" if status >= 400 else "success",
        chosen={t.id for t in subscription.topics},
        others=_other_newsletters(subscription),
        active=active,
        can_join=active and subscription.confirmed_at is not None,
    ), status


def _newsletter(slug: str) -> Newsletter:
    return newsletter_by_slug(g.db, slug)


@blueprint.route("/subscribe/<slug>", methods=["GET", "POST"])
@public
def subscribe(slug: str) -> str | tuple[str, int]:
    """Sign-up with double opt-in. The answer never says whether the address was known."""
    newsletter = _newsletter(slug)
    page = {
        "newsletter": newsletter,
        "groups": grouped_by_parent(offered_topics(g.db)),
        "consent": signup.consent_text(newsletter),
        "wording": signup.CURRENT_WORDING,
    }
    if not is_submission():
        return render_template("public/subscribe.html", **page)
    if request.form.get("website"):  # a field people never see: only robots fill it
        return render_template("public/check_inbox.html", newsletter=newsletter)
    if request.form.get("consent") != "yes":
        return render_template(
            "public/subscribe.html",
            error="Please tick the box to agree.",
            form=request.form,
            **page,
        ), 400
    form = signup.SignupForm(
        email=request.form.get("email", ""),
        name=request.form.get("name", ""),
        topic_ids=int_list("topic"),
        origin=_origin(
            f"embedded form for /subscribe/{slug}"
            if request.endpoint == "public.subscribe_embedded"
            else f"sign-up page /subscribe/{slug}"
        ),
    )
    try:
        note = requests.ask_to_sign_up(g.db, newsletter, form, settings().secret())
    except signup.TooManySignups as exc:
        g.db.rollback()
        return render_template(
            "public/subscribe.html", error=f"Not now: {exc}.", form=request.form, **page
        ), 429
    except signup.SignupError as exc:
        g.db.rollback()
        return render_template(
            "public/subscribe.html", error=f"Please check: {exc}.", form=request.form, **page
        ), 400
    _commit_and_send()
    return render_template("public/check_inbox.html", newsletter=newsletter, note=note)


@blueprint.post("/subscribe/<slug>/embedded")
@public
def subscribe_embedded(slug: str) -> str | tuple[str, int]:
    """The target of the form other sites embed. It cannot carry this site's CSRF token, so
    it is exempt; double opt-in, the honeypot and the rate limits guard it instead."""
    return subscribe(slug)


@blueprint.get("/subscribe/<slug>/embed")
@public
def embed_snippet(slug: str) -> str:
    """The HTML to paste into another site to offer the sign-up there."""
    newsletter = _newsletter(slug)
    action = f"{settings().mail.base_url}/subscribe/{slug}/embedded"
    snippet = render_template(
        "public/embed_form.html",
        newsletter=newsletter,
        action=action,
        consent=signup.consent_text(newsletter),
    )
    return render_template("public/embed.html", newsletter=newsletter, snippet=snippet)


@blueprint.route("/confirm/<token>", methods=["GET", "POST"])
@public
def confirm(token: str) -> str | tuple[str, int]:
    """GET shows a button (link checkers must not confirm for people); POST confirms."""
    if not is_submission():
        try:
            signup.read_confirmation_token(token, settings().link_keys())
        except InvalidToken as exc:
            return render_template("public/invalid_link.html", reason=capitalised(exc)), 400
        return render_template("public/confirm.html", token=token, done=False)
    try:
        subscription = signup.confirm(
            g.db, token, settings().link_keys(), _origin("confirmation link"), settings().secret()
        )
    except InvalidToken as exc:
        return render_template("public/invalid_link.html", reason=capitalised(exc)), 400
    g.db.commit()
    return render_template(
        "public/confirm.html",
        token=token,
        done=True,
        subscription=subscription,
        preferences=subscription_token(
            subscription.id, subscription.link_secret, settings().link_keys()
        ),
    )


@blueprint.route("/preferences", methods=["GET", "POST"])
@public
def lost_link() -> str | tuple[str, int]:
    """'Email me my link': the same answer, in the same time, for any address."""
    if not is_submission():
        return render_template("public/lost_link.html", sent=False)
    try:
        requests.ask_for_links(
            g.db, request.form.get("email", ""), _origin("email me my link"), settings().secret()
        )
    except signup.TooManySignups as exc:
        g.db.rollback()
        return render_template("public/lost_link.html", error=f"Not now: {exc}."), 429
    except signup.SignupError as exc:
        g.db.rollback()
        return render_template("public/lost_link.html", error=f"Please check: {exc}."), 400
    _commit_and_send()
    return render_template("public/lost_link.html", sent=True)


@blueprint.get("/archive/<slug>")
@public
def archive(slug: str) -> str:
    newsletter = _newsletter(slug)
    words = request.args.get("q", "").strip()[:200]
    topic = request.args.get("topic", "").strip()
    results = editions_archive.search(
        g.db, newsletter, words, topic or None, optional_int("page") or 1
    )

    def page_link(number: int) -> str:  # the same search, another page of it
        kept = {"q": words, "topic": topic, "page": number if number > 1 else None}
        wanted = {name: value for name, value in kept.items() if value}
        return url_for("public.archive", slug=newsletter.slug, **wanted)

    return render_template(
        "public/archive.html",
        newsletter=newsletter,
        words=words,
        topic=topic,
        groups=grouped_by_parent(offered_topics(g.db)),
        results=results,
        newer=page_link(min(results.number - 1, results.pages)) if results.number > 1 else None,
        older=page_link(results.number + 1) if results.more else None,
    )


@blueprint.get("/archive/<slug>/<int:edition_id>")
@public
def archived_edition(slug: str, edition_id: int) -> str:
    newsletter = _newsletter(slug)
    found = editions_archive.archived(g.db, newsletter, edition_id)
    return render_template("public/archived_edition.html", newsletter=newsletter, archived=found)


@blueprint.get("/archive/<slug>/<int:edition_id>/items.<fmt>")
@public
def archived_items(slug: str, edition_id: int, fmt: str) -> Response:
    """A sent edition's items as RIS or BibTeX, for a reader's reference manager."""
    found = editions_archive.archived(g.db, _newsletter(slug), edition_id)
    if fmt not in citation_export.FORMATS:
        abort(404)
    return download(*citation_export.export(found.edition, fmt))


def _atom(body: bytes) -> Response:
    return Response(body, mimetype="application/atom+xml")


@blueprint.get("/archive/<slug>/feed.atom")
@public
def editions_feed(slug: str) -> Response:
    return _atom(editions_archive.editions_feed(g.db, _newsletter(slug), settings().mail.base_url))


@blueprint.get("/topics/<slug>/feed.atom")
@public
def topic_feed(slug: str) -> Response:
    topic = g.db.scalar(select(Topic).where(Topic.slug == slug))
    if topic is None:
        abort(404)
    return _atom(editions_archive.topic_feed(g.db, topic, settings().mail.base_url))
