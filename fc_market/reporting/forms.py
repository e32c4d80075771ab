from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import DateField, HiddenField, IntegerField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from fc_market.reporting import dictionary as dd


class UploadForm(FlaskForm):
    file = FileField("Fichier Excel (.xlsx) rempli à partir du modèle",
                     validators=[FileRequired("Choisissez un fichier .xlsx.")])


def _choices(codes, blank="—"):
    return {"": blank, **{code: dd.choice(code, label) if code not in ("F", "M") else label
                          for code, label in codes.items()}}


class ActForm(FlaskForm):
    beneficiary_id = StringField("Identifiant bénéficiaire (64 caractères hexadécimaux)",
                                 validators=[DataRequired("Identifiant obligatoire."),
                                             Length(max=200)])
    uo_code = SelectField("Code UO", validators=[DataRequired("Choisissez l'UO.")])
    act_date = DateField("Date de l'acte", validators=[InputRequired("Date obligatoire.")])
    mode = SelectField("Modalité", choices={"": "—", **dd.MODES},
                       validators=[DataRequired("Choisissez la modalité.")])
    site_code = SelectField("Site (présentiel)", validators=[Optional()])
    proof_ref = StringField("Référence du justificatif", validators=[Optional(), Length(max=100)])
    sex = SelectField("Sexe", choices=_choices(dd.SEXES), validators=[Optional()])
    age_band = SelectField("Tranche d'âge", choices=_choices(dd.AGE_BANDS), validators=[Optional()])
    csp = SelectField("Catégorie socio-professionnelle", choices=_choices(dd.CSP),
                      validators=[Optional()])
    employment_status = SelectField("Situation d'emploi", choices=_choices(dd.EMPLOYMENT),
                                    validators=[Optional()])
    sector = SelectField("Secteur d'activité (NAF)", choices=_choices(dd.SECTORS),
                         validators=[Optional()])

    def setup(self, rules):
        self.uo_code.choices = [("", "—")] + [(c, f"{c} — {u.label}") for c, u in rules.allowed.items()]
        self.site_code.choices = [("", "—")] + [(s.code, dd.choice(s.code, s.name))
                                                for s in rules.open_sites()]
        return self

    def values(self):
        return {name: (getattr(self, name).data or None) for name, _, _ in dd.ACT_COLUMNS}


def _count(label):
    return IntegerField(label, validators=[InputRequired("Nombre obligatoire (0 si aucun)."),
                                           NumberRange(min=0, message="Nombre positif ou nul.")])


class FiguresForm(FlaskForm):
    l1_respondents = _count(dd.FIGURE_ROWS[0][1])
    l1_satisfied = _count(dd.FIGURE_ROWS[1][1])
    l2_respondents = _count(dd.FIGURE_ROWS[2][1])
    l2_satisfied = _count(dd.FIGURE_ROWS[3][1])
    usefulness_respondents = _count(dd.FIGURE_ROWS[4][1])
    usefulness_useful = _count(dd.FIGURE_ROWS[5][1])
    complaints = _count(dd.FIGURE_ROWS[6][1])
    uo4_actions = TextAreaField(dd.FIGURE_ROWS[7][1], validators=[Optional(), Length(max=4000)])


class DecisionForm(FlaskForm):
    decision = RadioField("Décision", choices={"validate": "Valider", "reject": "Rejeter"},
                          validators=[DataRequired("Choisissez valider ou rejeter.")])
    comment = TextAreaField("Commentaire (obligatoire pour un rejet)",
                            validators=[Optional(), Length(max=4000)])
    counter = HiddenField(validators=[DataRequired()])


class AlertForm(FlaskForm):
    status = RadioField("Décision", choices={"confirmed": "Double financement confirmé",
                                             "dismissed": "Classer sans suite",
                                             "open": "Rouvrir"},
                        validators=[DataRequired("Choisissez une décision.")])
    comment = TextAreaField("Motif", validators=[Optional(), Length(max=4000)])
    counter = HiddenField(validators=[DataRequired()])
