"""Forms of the sites screens.  Business rules live in the service (the same rules apply to
the Excel import); these forms render the fields and carry the CSRF token."""
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import Length, Optional

from fc_market.territory.models import SITE_KINDS, WEEKDAYS


class SiteForm(FlaskForm):
    code = StringField("Code du site (celui du reporting)", validators=[Length(max=32)])
    name = StringField("Nom", validators=[Length(max=200)])
    kind = SelectField("Type", choices=dict(SITE_KINDS))
    address = StringField("Adresse", validators=[Optional(), Length(max=300)])
    postcode = StringField("Code postal", validators=[Optional(), Length(max=5)])
    commune = StringField("Commune", validators=[Length(max=120)],
                          description="Choisissez-la dans la liste des communes du lot : son code "
                                      "INSEE, son département et ses coordonnées se remplissent.")
    insee = StringField("Code INSEE de la commune", validators=[Optional(), Length(max=5)])
    departement = StringField("Département (vide : déduit des coordonnées)",
                              validators=[Optional(), Length(max=3)])
    latitude = StringField("Latitude (vide : centre de la commune)", validators=[Optional()])
    longitude = StringField("Longitude", validators=[Optional()])
    member = SelectField("Membre du groupement qui le fait fonctionner", choices=[])
    disabled_access = BooleanField("Accessible aux personnes handicapées")
    opened_on = StringField("Ouverture")
    closed_on = StringField("Fermeture prévue (facultatif)", validators=[Optional()])
    reason = TextAreaField("Motif de la demande", validators=[Optional(), Length(max=2000)])


for _day in WEEKDAYS:
    setattr(SiteForm, _day, StringField(f"{_day.capitalize()} (ex. 09:00-12:30,13:30-19:00)",
                                        validators=[Optional(), Length(max=80)]))


class CloseForm(FlaskForm):
    closed_on = StringField("Date de fermeture")
    reason = TextAreaField("Motif", validators=[Length(max=2000)])


class DecisionForm(FlaskForm):
    decision = SelectField("Décision", choices={"approve": "Approuver", "refuse": "Refuser"})
    comment = TextAreaField("Commentaire (obligatoire pour un refus)", validators=[Length(max=2000)])
    counter = HiddenField()


class ImportForm(FlaskForm):
    file = FileField("Classeur Excel (.xlsx) au format du modèle")
    reason = TextAreaField("Motif commun aux demandes", validators=[Optional(), Length(max=2000)])


class EmptyForm(FlaskForm):
    comment = TextAreaField("Commentaire", validators=[Optional(), Length(max=2000)])
