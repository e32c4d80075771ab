from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, DateField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, Regexp

AMOUNT = Regexp(r"^\s*[0-9][0-9\s\u202f\u00a0]*([,.][0-9]{1,2})?\s*$",
                message="Montant en euros, deux décimales au plus (ex. 1 234,56).")
REQUIRED = DataRequired("Champ obligatoire.")
DATE_MSG = "Date invalide (JJ/MM/AAAA)."


class InvoiceForm(FlaskForm):
    number = StringField("Numéro de facture", validators=[REQUIRED, Length(max=60)])
    issued_on = DateField("Date de la facture", validators=[REQUIRED], format="%Y-%m-%d")
    amount_excl_tax = StringField("Montant HT", validators=[REQUIRED, AMOUNT])
    vat = StringField("TVA", validators=[REQUIRED, AMOUNT])
    amount_incl_tax = StringField("Montant TTC", validators=[REQUIRED, AMOUNT])
    file = FileField("Facture (PDF)")
    comment = TextAreaField("Commentaire", validators=[Optional(), Length(max=2000)])


class CreditNoteForm(FlaskForm):
    number = StringField("Numéro de l'avoir", validators=[REQUIRED, Length(max=60)])
    issued_on = DateField("Date de l'avoir", validators=[REQUIRED], format="%Y-%m-%d")
    amount_excl_tax = StringField("Montant HT", validators=[REQUIRED, AMOUNT])
    vat = StringField("TVA", validators=[REQUIRED, AMOUNT])
    amount_incl_tax = StringField("Montant TTC", validators=[REQUIRED, AMOUNT])
    reason = TextAreaField("Motif", validators=[REQUIRED, Length(max=2000)])
    file = FileField("Avoir (PDF)")


class DecisionForm(FlaskForm):
    #: No decision is preselected: the empty choice comes first and is refused.  Missing
    #: documents are no decision: they call for an interruption of the term (below).
    action = SelectField("Décision", choices={"": "— Choisir une décision —",
                                              "accept": "Accepter (mettre en paiement)",
                                              "reject": "Rejeter"},
                         validators=[DataRequired("Choisissez une décision : accepter ou rejeter "
                                                  "la facture.")])
    reason = TextAreaField("Motif (obligatoire pour rejeter)",
                           validators=[Optional(), Length(max=2000)])
    version = HiddenField()


class ReceiptDateForm(FlaskForm):
    received_on = DateField("Date de réception (dépôt sur Chorus Pro)", validators=[REQUIRED],
                            format="%Y-%m-%d")


class InterruptionForm(FlaskForm):
    notified_on = DateField("Notification reçue par le mandataire le", validators=[REQUIRED],
                            format="%Y-%m-%d")
    reasons = TextAreaField("Motifs de l'interruption", validators=[REQUIRED, Length(max=2000)])
    documents_expected = TextAreaField("Pièces ou mentions à fournir",
                                       validators=[REQUIRED, Length(max=2000)])


class DocumentsReceivedForm(FlaskForm):
    documents_received_on = DateField("Dernière pièce reçue le", validators=[REQUIRED],
                                      format="%Y-%m-%d")


class InterruptionDocumentForm(FlaskForm):
    file = FileField("Pièce (PDF, PNG ou JPEG)")
    comment = StringField("Commentaire", validators=[Optional(), Length(max=500)])


class VersionForm(FlaskForm):
    version = HiddenField()


class ComputeForm(FlaskForm):
    period = StringField("Mois (AAAA-MM)", validators=[REQUIRED, Regexp(r"^\d{4}-(0[1-9]|1[0-2])$",
                                                                         message="Format AAAA-MM.")])


class PaymentForm(FlaskForm):
    invoice_number = StringField("Numéro de facture", validators=[REQUIRED, Length(max=60)])
    lot = SelectField("Lot", choices=[], validators=[Optional()])
    paid_on = DateField("Date de paiement", validators=[REQUIRED], format="%Y-%m-%d")
    amount = StringField("Montant payé", validators=[REQUIRED, AMOUNT])
    reference = StringField("Référence comptable", validators=[Optional(), Length(max=60)])


class InterestSettlementForm(FlaskForm):
    paid_on = DateField("Date de paiement des intérêts", validators=[REQUIRED], format="%Y-%m-%d")
    reference = StringField("Référence comptable", validators=[Optional(), Length(max=60)])


class ImportForm(FlaskForm):
    file = FileField("Export comptable (Excel .xlsx ou CSV)")


class EcbRateForm(FlaskForm):
    effective_on = DateField("En vigueur à partir du", validators=[REQUIRED], format="%Y-%m-%d")
    rate = StringField("Taux (en %)", validators=[REQUIRED, Regexp(r"^\s*-?[0-9]+([,.][0-9]{1,4})?\s*$",
                                                                   message="Taux en pourcentage, ex. 2,15.")])
    source = StringField("Source", validators=[Optional(), Length(max=200)])
    illustrative = BooleanField("Valeur illustrative (démonstration)")


class IndexValueForm(FlaskForm):
    index_name = StringField("Indice", validators=[REQUIRED, Length(max=80)])
    reference_month = StringField("Mois de l'indice (AAAA-MM)",
                                  validators=[REQUIRED, Regexp(r"^\d{4}-(0[1-9]|1[0-2])$",
                                                               message="Format AAAA-MM.")])
    value = StringField("Valeur", validators=[REQUIRED, Regexp(r"^\s*[0-9]+([,.][0-9]{1,4})?\s*$",
                                                                message="Nombre, 4 décimales au plus.")])
    published_on = DateField("Publié le", validators=[REQUIRED], format="%Y-%m-%d")
    source = StringField("Source", validators=[Optional(), Length(max=200)])
    illustrative = BooleanField("Valeur illustrative (démonstration)")
