from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Email, Length

from fc_market.auth.models import Role


class UserForm(FlaskForm):
    email = StringField("Adresse électronique (identifiant)", validators=[
        DataRequired("Champ obligatoire."), Email("Adresse électronique invalide."), Length(max=254)])
    full_name = StringField("Nom complet", validators=[DataRequired("Champ obligatoire."),
                                                       Length(max=200)])
    role = SelectField("Profil", choices={r: Role.LABELS[r] for r in Role.ALL})
    lot = SelectField("Lot (mandataire uniquement)", choices=[])
    password = PasswordField("Mot de passe initial", validators=[DataRequired("Champ obligatoire.")])


class PasswordResetForm(FlaskForm):
    password = PasswordField("Nouveau mot de passe", validators=[DataRequired("Champ obligatoire.")])


class EmptyForm(FlaskForm):
    """A form with only the CSRF token, for POST buttons."""
