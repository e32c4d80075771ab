from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length


class LoginForm(FlaskForm):
    email = StringField("Identifiant (adresse électronique)",
                        validators=[DataRequired("Saisissez votre identifiant."), Length(max=254)])
    password = PasswordField("Mot de passe", validators=[DataRequired("Saisissez votre mot de passe.")])


class PasswordForm(FlaskForm):
    current = PasswordField("Mot de passe actuel", validators=[DataRequired("Champ obligatoire.")])
    new = PasswordField("Nouveau mot de passe", validators=[DataRequired("Champ obligatoire.")])
    confirm = PasswordField("Confirmation", validators=[
        DataRequired("Champ obligatoire."), EqualTo("new", "Les deux saisies diffèrent.")])


class ChoosePasswordForm(FlaskForm):
    """The password a user chooses through an invitation or reset link."""
    new = PasswordField("Nouveau mot de passe", validators=[DataRequired("Champ obligatoire.")],
                        description="Au moins 12 caractères, de trois types parmi minuscules, "
                                    "majuscules, chiffres et symboles ; pas un mot de passe courant.")
    confirm = PasswordField("Confirmation", validators=[
        DataRequired("Champ obligatoire."), EqualTo("new", "Les deux saisies diffèrent.")])
