from flask_wtf import FlaskForm
from wtforms import (HiddenField, MultipleFileField, SelectField, SelectMultipleField, StringField,
                     TextAreaField)
from wtforms.validators import DataRequired, Length, Optional, Regexp, StopValidation
from wtforms.widgets import CheckboxInput, ListWidget

from fc_market.controls.models import NONCONFORMITY_REASONS, Verdict


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class AtLeastOne:
    """Server-side "choose at least one" check.  Unlike DataRequired it sets no ``required``
    flag: on a list of checkboxes the browser would otherwise demand that every box be ticked."""

    def __init__(self, message):
        self.message = message

    def __call__(self, form, field):
        if not field.data:
            raise StopValidation(self.message)


class OpenCampaignForm(FlaskForm):
    periods = MultiCheckboxField("Mois validés à contrôler", choices=[],
                                 validators=[AtLeastOne("Choisissez au moins un mois.")])
    seed = StringField("Graine du tirage (facultatif : tirée au hasard et enregistrée)",
                       validators=[Optional(), Length(max=64),
                                   Regexp(r"^[A-Za-z0-9_.:-]+$",
                                          message="Lettres, chiffres et . _ : - uniquement.")])
    note = TextAreaField("Objet du contrôle (facultatif)", validators=[Optional(), Length(max=2000)])


class AnswerForm(FlaskForm):
    reference = StringField("Référence de la preuve", validators=[Optional(), Length(max=200)])
    comment = TextAreaField("Commentaire", validators=[Optional(), Length(max=2000)])
    files = MultipleFileField("Fichiers (PDF, PNG ou JPEG, 10 Mo au plus chacun)")


class JudgeForm(FlaskForm):
    verdict = SelectField("Avis", choices={v: Verdict.LABELS[v] for v in Verdict.CHOICES},
                          validators=[DataRequired("Choisissez un avis.")])
    reason = SelectField("Motif de non-conformité",
                         choices={"": "—", **NONCONFORMITY_REASONS},  # the view sets the lot's
                         validators=[Optional()])
    comment = TextAreaField("Commentaire", validators=[Optional(), Length(max=2000)])


class CloseForm(FlaskForm):
    version = HiddenField()
