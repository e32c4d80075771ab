from flask import Blueprint, render_template, request

from fc_market.access import roles
from fc_market.auth.models import Role
from fc_market.exports import Column, Sheet, xlsx_response
from fc_market.extensions import db
from fc_market.notifications.service import visible_to
from fc_market.urlargs import page_arg
from flask_login import current_user

bp = Blueprint("notifications", __name__)


@bp.get("/messages")
@roles(*Role.ALL)
def outbox():
    page = page_arg()
    rows = db.session.scalars(visible_to(current_user).limit(51).offset((page - 1) * 50)).all()
    return render_template("notifications/outbox.html", rows=rows[:50], page=page,
                           has_next=len(rows) > 50)


@bp.get("/messages.xlsx")
@roles(*Role.ALL)
def outbox_export():
    rows = db.session.scalars(visible_to(current_user).limit(20_000)).all()
    columns = [Column("created_at", "Date (UTC)", "datetime"),
               Column(lambda n: n.lot.code if n.lot else None, "Lot", "text"),
               Column("subject", "Objet", "text"), Column("body", "Message", "text"),
               Column("emailed_at", "Courriel envoyé le (UTC)", "datetime")]
    return xlsx_response("messages.xlsx", [Sheet("Messages", columns, rows)])


def register(app):
    from fc_market.web import add_nav
    app.register_blueprint(bp)
    add_nav("Messages", "notifications.outbox", Role.ALL, order=85)
