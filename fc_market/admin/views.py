import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user

from fc_market.access import roles
from fc_market.admin.forms import EmptyForm, PasswordResetForm, UserForm
from fc_market.audit import service as audit
from fc_market.auth.models import Role, User
from fc_market.auth import sessions
from fc_market.auth.service import create_user, password_problems
from fc_market.exports import Column, Sheet, xlsx_response
from fc_market.extensions import db
from fc_market.market.models import Lot

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _users():
    return db.session.scalars(sa.select(User).order_by(User.role, User.email)).all()


@bp.get("/utilisateurs")
@roles(Role.ADMIN)
def users():
    return render_template("admin/users.html", users=_users(), form=EmptyForm())


@bp.get("/utilisateurs.xlsx")
@roles(Role.ADMIN)
def users_export():
    columns = [Column("email", "Identifiant", "text"), Column("full_name", "Nom", "text"),
               Column("role_label", "Profil", "text"),
               Column(lambda u: u.lot.code if u.lot else None, "Lot", "text"),
               Column(lambda u: "oui" if u.active else "non", "Actif", "text"),
               Column("last_login_at", "Dernière connexion (UTC)", "datetime")]
    return xlsx_response("utilisateurs.xlsx", [Sheet("Utilisateurs", columns, _users())])


@bp.route("/utilisateurs/nouveau", methods=["GET", "POST"])
@roles(Role.ADMIN)
def user_new():
    form = UserForm()
    lots = db.session.scalars(sa.select(Lot).order_by(Lot.number)).all()
    form.lot.choices = [("", "—")] + [(lot.code, f"{lot.code} — {lot.name}") for lot in lots]
    if form.validate_on_submit():
        lot = next((lot for lot in lots if lot.code == form.lot.data), None)
        if form.role.data == Role.MANDATAIRE and lot is None:
            form.lot.errors.append("Choisissez le lot du mandataire.")
        elif form.role.data != Role.MANDATAIRE and lot is not None:
            form.lot.errors.append("Seul un mandataire est rattaché à un lot.")
        else:
            try:
                create_user(form.email.data, form.full_name.data, form.role.data,
                            form.password.data, lot)
            except ValueError as exc:
                form.email.errors.append(str(exc))
            else:
                flash(f"Compte {form.email.data} créé.", "success")
                return redirect(url_for("admin.users"))
    return render_template("admin/user_form.html", form=form)


def _user(user_id):
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    return user


@bp.post("/utilisateurs/<int:user_id>/activation")
@roles(Role.ADMIN)
def user_toggle(user_id):
    if not EmptyForm().validate_on_submit():
        abort(400)
    user = _user(user_id)
    if user.id == current_user.id:
        flash("Vous ne pouvez pas désactiver votre propre compte.", "error")
        return redirect(url_for("admin.users"))
    user.active = not user.active
    if not user.active:
        import secrets
        user.session_token = secrets.token_hex(16)  # closes the user's open sessions
        sessions.end_all(user)
    user.locked_until = None
    user.failed_logins = 0
    audit.record("user.activate" if user.active else "user.deactivate", user,
                 summary=f"Compte {user.email} {'réactivé' if user.active else 'désactivé'}",
                 lot_id=user.lot_id)
    flash(f"Compte {user.email} {'réactivé' if user.active else 'désactivé'}.", "success")
    return redirect(url_for("admin.users"))


@bp.route("/utilisateurs/<int:user_id>/mot-de-passe", methods=["GET", "POST"])
@roles(Role.ADMIN)
def user_password(user_id):
    user = _user(user_id)
    form = PasswordResetForm()
    if form.validate_on_submit():
        problems = password_problems(form.password.data)
        if problems:
            form.password.errors.append("Mot de passe trop faible : " + ", ".join(problems) + ".")
        else:
            user.set_password(form.password.data)
            user.locked_until = None
            user.failed_logins = 0
            audit.record("user.password_reset", user, summary=f"Mot de passe de {user.email} "
                         "réinitialisé par l'administrateur", lot_id=user.lot_id)
            flash(f"Mot de passe de {user.email} réinitialisé.", "success")
            return redirect(url_for("admin.users"))
    return render_template("admin/password.html", form=form, user=user)
