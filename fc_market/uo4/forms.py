from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import HiddenField, RadioField, SelectField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional


class EmptyForm(FlaskForm):
    """Only the CSRF token, for POST buttons and the lines form (read from request.form)."""


class UploadForm(FlaskForm):
    file = FileField("Fichier Excel (.xlsx) rempli à partir du modèle",
                     validators=[FileRequired("Choisissez un fichier .xlsx.")])


class DocumentForm(FlaskForm):
    category = SelectField("Catégorie de dépenses documentée",
                           validators=[DataRequired("Choisissez la catégorie.")])
    file = FileField("Justificatif (PDF, PNG ou JPEG, 10 Mo au plus)",
                     validators=[FileRequired("Choisissez un fichier.")])


class DecisionForm(FlaskForm):
    decision = RadioField("Décision", choices={"accept": "Accepter", "question": "Poser des questions",
                                               "reject": "Rejeter"},
                          validators=[DataRequired("Choisissez une décision.")])
    comment = TextAreaField("Questions ou motif (obligatoire pour des questions ou un rejet)",
                            validators=[Optional(), Length(max=4000)])
    counter = HiddenField(validators=[DataRequired()])


class AnswerForm(FlaskForm):
    body = TextAreaField("Votre réponse", validators=[DataRequired("Écrivez votre réponse."),
                                                      Length(max=4000)])
