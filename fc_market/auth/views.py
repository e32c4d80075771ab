from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.exceptions import HTTPException

from fc_market.access import roles
from fc_market.audit import service as audit
from fc_market.auth import sessions
from fc_market.auth.forms import LoginForm, PasswordForm
from fc_market.auth.models import Role
from fc_market.auth.service import LoginRefused, authenticate, password_problems

bp = Blueprint("auth", __name__)


def _safe_next(target):
    """``target`` if it is a path of this application (what the browser would request
    once it has normalised it), else None.

    Browsers drop tabs and newlines inside a URL and read ``\\`` as ``/``, so
    ``/\t/evil.test`` becomes ``//evil.test``: any control character, backslash or
    white space refuses the target, and what is left must be a path (no scheme, no host)
    that one of this application's GET routes answers.
    """
    if not target or len(target) > 2000:
        return None
    if any(ch.isspace() or not ch.isprintable() or ch == "\\" for ch in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/") or parts.path.startswith("//"):
        return None
    adapter = current_app.url_map.bind("localhost")
    try:
        adapter.match(parts.path, method="GET")
    except HTTPException:
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")


@bp.route("/connexion", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("index"))
    form = LoginForm()
    if form.validate_on_submit():
        try:
            user = authenticate(form.email.data, form.password.data, request.remote_addr)
        except LoginRefused as exc:
            flash(exc.message, "error")
        else:
            next_url = _safe_next(request.args.get("next"))
            session.clear()  # a new session on login: no fixation
            login_user(user)
            sessions.start(user)
            session.permanent = True
            audit.record("user.login", user, summary=f"Connexion de {user.email}", user=user,
                         lot_id=user.lot_id)
            return redirect(next_url or url_for("index"))
    return render_template("auth/login.html", form=form)


@bp.post("/deconnexion")
@login_required
@roles(*Role.ALL)
def logout():
    sessions.end_current()
    logout_user()
    session.clear()
    flash("Vous êtes déconnecté(e).", "info")
    return redirect(url_for("auth.login"))


@bp.route("/mon-compte", methods=["GET", "POST"])
@roles(*Role.ALL)
def account():
    form = PasswordForm()
    if form.validate_on_submit():
        problems = password_problems(form.new.data)
        if not current_user.check_password(form.current.data):
            form.current.errors.append("Mot de passe actuel incorrect.")
        elif problems:
            form.new.errors.append("Mot de passe trop faible : " + ", ".join(problems) + ".")
        else:
            current_user.set_password(form.new.data)
            audit.record("user.password", current_user, summary="Mot de passe modifié",
                         lot_id=current_user.lot_id)
            sessions.start(current_user)  # this session goes on under a new record
            login_user(current_user._get_current_object())  # new session token: keep this session
            flash("Mot de passe modifié. Vos autres sessions sont fermées.", "success")
            return redirect(url_for("auth.account"))
    return render_template("auth/account.html", form=form)
