from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from fc_market.access import roles
from fc_market.audit import service as audit
from fc_market.auth.forms import LoginForm, PasswordForm
from fc_market.auth.models import Role
from fc_market.auth.service import LoginRefused, authenticate, password_problems

bp = Blueprint("auth", __name__)


def _safe_next(target):
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return None


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
            session.permanent = True
            audit.record("user.login", user, summary=f"Connexion de {user.email}", user=user,
                         lot_id=user.lot_id)
            return redirect(next_url or url_for("index"))
    return render_template("auth/login.html", form=form)


@bp.post("/deconnexion")
@login_required
@roles(*Role.ALL)
def logout():
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
            login_user(current_user._get_current_object())  # new session token: keep this session
            flash("Mot de passe modifié. Vos autres sessions sont fermées.", "success")
            return redirect(url_for("auth.account"))
    return render_template("auth/account.html", form=form)
