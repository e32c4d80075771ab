from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, DateField, HiddenField, TextAreaField
from wtforms.validators import Length, Optional

RECEIVED_LABEL = "Date de dépôt sur Chorus Pro"
RECEIVED_HINT = ("La date de réception de la demande de paiement, qui fait courir le délai de "
                 "paiement (par défaut : aujourd'hui ; jamais dans le futur).")


class StructuredInvoiceForm(FlaskForm):
    file = FileField("Facture électronique : PDF Factur-X, XML CII ou XML UBL")
    received_on = DateField(RECEIVED_LABEL, validators=[Optional()], format="%Y-%m-%d")
    comment = TextAreaField("Commentaire", validators=[Optional(), Length(max=2000)])


class ConfirmStructuredForm(FlaskForm):
    payload = HiddenField()
    file_name = HiddenField()
    received_on = DateField(RECEIVED_LABEL, validators=[Optional()], format="%Y-%m-%d")
    comment = HiddenField()
    accept_difference = BooleanField("Je confirme l'enregistrement malgré l'écart avec l'état certifié")
