from flask import Blueprint, render_template
from flask_login import current_user
from markupsafe import Markup

from fc_market.access import roles
from fc_market.auth.models import Role
from fc_market.formatting import moment
from fc_market.notifications.models import Notification
from fc_market.notifications.service import visible_to
from fc_market.tables import Col, Table, link, lot_filter, period_filter, search_filter

bp = Blueprint("notifications", __name__)


def _subject_html(note):
    if note.link:
        return link(lambda n: n.subject, lambda n: n.link)(note)
    return Markup("{}").format(note.subject)


def _email_html(note):
    if note.emailed_at:
        return Markup("envoyé le {}").format(moment(note.emailed_at))
    if note.email_error:
        return Markup('<p class="fr-badge fr-badge--sm fr-badge--error fr-badge--no-icon">échec</p>')
    return Markup("—")


#: The messages of the application, on screen and in Excel
MESSAGES = Table(
    "messages", "Messages",
    [Col("created_at", "Date", kind="datetime", sort=Notification.created_at,
         export_label="Date (heure de Paris)"),
     Col("lot", "Lot", "lot.code"),
     Col("subject", "Objet", sort=Notification.subject, html=_subject_html),
     Col("body", "Message"),
     Col("emailed_at", "Courriel", kind="datetime", html=_email_html,
         export_label="Courriel envoyé le (heure de Paris)")],
    filters=[lot_filter(Notification.lot_id),
             period_filter(Notification.created_at, label="Mois"),
             search_filter("Recherche", Notification.subject, Notification.body,
                           hint="Dans l'objet ou le message")],
    default_sort="-created_at", tiebreak=Notification.id.desc(), noun=("message", "messages"),
    empty="Aucun message.")


def _hidden():
    return ("lot",) if current_user.is_mandataire else ()


@bp.get("/messages")
@roles(*Role.ALL)
def outbox():
    page = MESSAGES.page(visible_to(current_user), "notifications.outbox", hidden=_hidden(),
                         export_endpoint="notifications.outbox_export")
    return render_template("notifications/outbox.html", page=page)


@bp.get("/messages.xlsx")
@roles(*Role.ALL)
def outbox_export():
    return MESSAGES.export(visible_to(current_user), "messages.xlsx", hidden=_hidden())


def register(app):
    from fc_market.web import add_nav
    app.register_blueprint(bp)
    add_nav("Messages", "notifications.outbox", Role.ALL, order=85)
