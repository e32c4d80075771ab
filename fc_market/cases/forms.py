from flask_wtf import FlaskForm
from flask_wtf.file import MultipleFileField
from wtforms import BooleanField, DateField, HiddenField, RadioField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from fc_market.cases.models import CLOSE_LABELS


class OpenForm(FlaskForm):
    comment = TextAreaField("Commentaire interne (facultatif)", validators=[Optional(), Length(max=4000)])


class AcknowledgeForm(FlaskForm):
    comment = TextAreaField("Lecture du signalement", validators=[DataRequired("Commentaire obligatoire."),
                                                                  Length(max=4000)])
    internal = BooleanField("Commentaire interne (non visible du mandataire)", default=True)
    counter = HiddenField()


class RequestPlanForm(FlaskForm):
    body = TextAreaField("Ce que le plan d'action doit traiter",
                         validators=[DataRequired("Texte obligatoire."), Length(max=4000)])
    due_on = DateField("Échéance du plan d'action", validators=[InputRequired("Échéance obligatoire.")])
    counter = HiddenField()


class PlanForm(FlaskForm):
    body = TextAreaField("Plan d'action (actions, responsables, échéances)",
                         validators=[DataRequired("Décrivez le plan d'action."), Length(max=8000)])
    files = MultipleFileField("Pièces jointes (PDF, PNG ou JPEG, facultatives)")
    counter = HiddenField()


class FollowForm(FlaskForm):
    comment = TextAreaField("Commentaire (facultatif)", validators=[Optional(), Length(max=4000)])
    counter = HiddenField()


class CloseForm(FlaskForm):
    reason = RadioField("Motif de clôture", choices=CLOSE_LABELS,
                        validators=[DataRequired("Choisissez le motif.")])
    comment = TextAreaField("Commentaire (facultatif)", validators=[Optional(), Length(max=4000)])
    counter = HiddenField()


class MessageForm(FlaskForm):
    body = TextAreaField("Message", validators=[DataRequired("Le message est vide."), Length(max=4000)])
    internal = BooleanField("Note interne à France compétences (non visible du mandataire)")
