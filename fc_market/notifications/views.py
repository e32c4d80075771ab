from flask import Blueprint, render_template, request

from fc_market.access import roles
from fc_market.auth.models import Role
from fc_market.extensions import db
from fc_market.notifications.service import visible_to
from flask_login import current_user

bp = Blueprint("notifications", __name__)


@bp.get("/messages")
@roles(*Role.ALL)
def outbox():
    page = max(request.args.get("page", 1, type=int), 1)
    rows = db.session.scalars(visible_to(current_user).limit(51).offset((page - 1) * 50)).all()
    return render_template("notifications/outbox.html", rows=rows[:50], page=page,
                           has_next=len(rows) > 50)


def register(app):
    from fc_market.web import add_nav
    app.register_blueprint(bp)
    add_nav("Messages", "notifications.outbox", Role.ALL, order=85)
