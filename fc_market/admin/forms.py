from flask import current_app
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, ValidationError
from wtforms.validators import DataRequired, Length

from fc_market.auth.models import Role


def email_address(form, field):
    """A syntactically valid address (no DNS lookup); the demo's special-use ``.test``
    domains are accepted when ``EMAIL_ALLOW_TEST_DOMAINS`` is on (outside production)."""
    from email_validator import EmailNotValidError, validate_email
    allow_test = bool(current_app.config.get("EMAIL_ALLOW_TEST_DOMAINS"))
    try:
        result = validate_email(field.data or "", check_deliverability=False,
                                test_environment=allow_test, globally_deliverable=not allow_test)
    except EmailNotValidError:
        raise ValidationError("Adresse électronique invalide.") from None
    field.data = result.normalized


class UserForm(FlaskForm):
    """A new account: the user receives an invitation link and chooses the password."""
    email = StringField("Adresse électronique (identifiant)", validators=[
        DataRequired("Champ obligatoire."), Length(max=254), email_address])
    full_name = StringField("Nom complet", validators=[DataRequired("Champ obligatoire."),
                                                       Length(max=200)])
    role = SelectField("Profil", choices={"": "— Choisir —", **{r: Role.LABELS[r] for r in Role.ALL}},
                       validators=[DataRequired("Choisissez un profil.")])
    lot = SelectField("Lot (mandataire uniquement)", choices=[])


class UserEditForm(FlaskForm):
    full_name = StringField("Nom complet", validators=[DataRequired("Champ obligatoire."),
                                                       Length(max=200)])
    role = SelectField("Profil", choices={r: Role.LABELS[r] for r in Role.ALL})
    lot = SelectField("Lot (mandataire uniquement)", choices=[])


class EmptyForm(FlaskForm):
    """A form with only the CSRF token, for POST buttons."""
