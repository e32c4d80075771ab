"""The home page of every role: its to-do list (:mod:`fc_market.home.service`)."""
from flask import Blueprint, redirect, render_template, url_for
from flask_login import current_user

from fc_market.access import roles
from fc_market.auth.models import Role
from fc_market.home import service
from fc_market.reporting.service import paris_today

bp = Blueprint("home", __name__)


@bp.get("/accueil")
@roles(*Role.ALL)
def index():
    today = paris_today()
    sections = service.todo_for(current_user, today)
    waiting = sum(s.count for s in sections if s.items)
    return render_template("home/index.html", sections=sections, today=today, waiting=waiting,
                           lot=current_user.lot if current_user.is_mandataire else None)


@bp.get("/accueil/messages/<int:note_id>")
@roles(*Role.ALL)
def open_message(note_id):
    """Open a message from the home: it is marked read, then its subject is shown (the page
    it is about, or the messages).  A message the user may not read leads to the messages
    and changes nothing."""
    target = service.open_message(current_user, note_id)
    return redirect(target or url_for("notifications.outbox"))


def register(app):
    from fc_market import web
    app.register_blueprint(bp)
    for role in Role.ALL:  # every role lands on its to-do list
        web.HOME[role] = "home.index"
