"""One subscriber's page: their subscriptions with topics and status, consent history,
recent deliveries and returned mail; and the two actions that cannot be taken back, each
asked first: unsubscribing them from a newsletter (editors), erasing them (administrators:
it deletes the consent records that show they ever agreed)."""

from __future__ import annotations

from flask import Response, flash, g, redirect, render_template
from flask import url_for as url

from digest.models import Role
from digest.subscriptions import manage, privacy
from digest.subscriptions.profile import profile, subscriber_by_id, subscription_of
from digest.web import confirm
from digest.web.context import settings
from digest.web.inputs import required_int
from digest.web.security import requires
from digest.wording import who

ERASE_DETAIL = (
    "Their subscriptions, consent history, deliveries and returned-mail records are deleted, "
    "with any sign-up of theirs still waiting to be processed. The address is kept only as a "
    "keyed hash on the suppression list, so it is never mailed again and no list import or "
    "member of staff can add it back; only they can come back, by signing up again."
)


@requires(Role.EDITOR)
def show(subscriber_id: int) -> str:
    found = profile(g.db, subscriber_id, settings().secret())
    return render_template(
        "subscriber.html",
        found=found,
        person=found.subscriber,
        can_erase=g.user.role.allows(Role.ADMIN),
    )


@requires(Role.EDITOR)
def unsubscribe(subscriber_id: int) -> Response | tuple[str, int]:
    """Unsubscribe the person from one newsletter, as if they had: asked first."""
    subscription = subscription_of(g.db, subscriber_id, required_int("subscription"))
    person, title = subscription.subscriber, subscription.newsletter.title
    back = url("subscribers.show", subscriber_id=subscriber_id)
    if not confirm.confirmed():
        return confirm.ask(
            f"Unsubscribe {who(person.name, person.email)} from {title}?",
            detail=(
                f"They get no more {title} emails, and the address goes on {title}’s "
                "suppression list: no list import or member of staff can subscribe it again; "
                "only they can, by signing up again."
            ),
            yes=f"Unsubscribe from {title}",
            back=back,
        )
    if manage.unsubscribe_by_staff(g.db, subscription, g.user.email, settings().secret()):
        flash(f"Unsubscribed {who(person.name, person.email)} from {title}.", "success")
    else:
        flash(f"{who(person.name, person.email)} had already left {title}.", "success")
    g.db.commit()
    return redirect(back)


@requires(Role.ADMIN)
def erase(subscriber_id: int) -> Response | tuple[str, int]:
    """Erase the person and everything about them (UK GDPR): asked first."""
    person = subscriber_by_id(g.db, subscriber_id)
    if not confirm.confirmed():
        return confirm.ask(
            f"Erase {who(person.name, person.email)}?",
            detail=ERASE_DETAIL,
            yes="Erase for good",
            back=url("subscribers.show", subscriber_id=subscriber_id),
        )
    privacy.erase(g.db, person.email, settings().secret(), actor=g.user.email)
    g.db.commit()
    # The address is not repeated: the message waits in the session cookie until shown.
    flash("Erased. Only a keyed hash of the address is kept, on the suppression list.", "success")
    return redirect(url("subscribers.index"))
