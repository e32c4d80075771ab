import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user

from fc_market.access import roles
from fc_market.admin.forms import EmptyForm, UserEditForm, UserForm
from fc_market.audit import service as audit
from fc_market.auth.models import Role, User
from fc_market.auth import sessions
from fc_market.auth import tokens
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


def _lot_choices(form):
    lots = db.session.scalars(sa.select(Lot).order_by(Lot.number)).all()
    form.lot.choices = {"": "—", **{lot.code: f"{lot.code} — {lot.name}" for lot in lots}}
    return lots


def _role_and_lot(form, lots):
    """The lot chosen, or None; an error on the lot field when it does not fit the role."""
    lot = next((lot for lot in lots if lot.code == form.lot.data), None)
    if form.role.data == Role.MANDATAIRE and lot is None:
        form.lot.errors.append("Choisissez le lot du mandataire.")
        return False, None
    if form.role.data != Role.MANDATAIRE and lot is not None:
        form.lot.errors.append("Seul un mandataire est rattaché à un lot.")
        return False, None
    return True, lot


def _dev_link(token):
    """Without SMTP, outside production, the administrator sees the link to hand over (the
    demo's addresses receive no mail); never in production."""
    from flask import current_app
    if current_app.config.get("MAIL_SERVER") or current_app.config.get("FC_ENV") == "production":
        return ""
    return (" Aucun serveur SMTP n'est configuré (développement) : lien à transmettre "
            f"{url_for('auth.choose_password', token=token, _external=True)}")


@bp.route("/utilisateurs/nouveau", methods=["GET", "POST"])
@roles(Role.ADMIN)
def user_new():
    """Invite by e-mail: the account is created without a password and its user receives a
    one-time link to choose one."""
    form = UserForm()
    lots = _lot_choices(form)
    if form.validate_on_submit():
        ok, lot = _role_and_lot(form, lots)
        if ok:
            try:
                user, token = tokens.invite(form.email.data, form.full_name.data, form.role.data,
                                            lot, by=current_user)
            except ValueError as exc:
                form.email.errors.append(str(exc))
            else:
                flash(f"Compte {user.email} créé : une invitation lui est envoyée, valable "
                      f"{tokens.valid_hours('invitation')} heure(s)." + _dev_link(token), "success")
                return redirect(url_for("admin.users"))
    return render_template("admin/user_form.html", form=form)


@bp.route("/utilisateurs/<int:user_id>/modifier", methods=["GET", "POST"])
@roles(Role.ADMIN)
def user_edit(user_id):
    """Change a user's name, role and lot (never one's own role)."""
    user = _user(user_id)
    form = UserEditForm(obj=user) if not _posted() else UserEditForm()
    lots = _lot_choices(form)
    if not _posted():
        form.lot.data = user.lot.code if user.lot else ""
    if form.validate_on_submit():
        ok, lot = _role_and_lot(form, lots)
        if ok and user.id == current_user.id and form.role.data != user.role:
            form.role.errors.append("Vous ne pouvez pas changer votre propre profil.")
            ok = False
        if ok:
            before = {"role": user.role, "lot": user.lot.code if user.lot else None,
                      "full_name": user.full_name}
            user.full_name = form.full_name.data.strip()
            user.role = form.role.data
            user.lot_id = lot.id if lot else None
            after = {"role": user.role, "lot": lot.code if lot else None, "full_name": user.full_name}
            changes = {k: [before[k], after[k]] for k in before if before[k] != after[k]}
            if changes:
                audit.record("user.update", user, summary=f"Compte {user.email} modifié : "
                             + ", ".join(changes), changes=changes, lot_id=user.lot_id)
            flash(f"Compte {user.email} enregistré.", "success")
            return redirect(url_for("admin.users"))
    return render_template("admin/user_edit.html", form=form, user=user)


def _posted():
    from flask import request
    return request.method == "POST"


@bp.post("/utilisateurs/<int:user_id>/reinitialisation")
@roles(Role.ADMIN)
def user_reset(user_id):
    """Send a password-reset link: the user chooses the new password."""
    if not EmptyForm().validate_on_submit():
        abort(400)
    user = _user(user_id)
    if not user.active:
        flash(f"Le compte {user.email} est désactivé : réactivez-le d'abord.", "error")
        return redirect(url_for("admin.users"))
    token = tokens.reset(user, by=current_user)
    flash(f"Un lien de réinitialisation est envoyé à {user.email}, valable "
          f"{tokens.valid_hours('reset')} heure(s)." + _dev_link(token), "success")
    return redirect(url_for("admin.users"))


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
