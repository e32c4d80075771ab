"""The French labels of the codes the application stores, in one place.

Codes stay in the database and in the logic; screens and exports show these labels (through
:func:`label`, the ``label`` template filter, or a table column's ``labels``).  A label is
never compared in logic.  Status families that belong to a model keep their ``LABELS`` on the
model's status class; they are gathered here under one name for badges (:data:`STATUSES`).
"""

#: Audit log actions (``AuditEntry.action``)
AUDIT_ACTIONS = {
    "user.login": "Connexion", "user.locked": "Compte verrouillé",
    "user.create": "Création d'un compte", "user.activate": "Réactivation d'un compte",
    "user.deactivate": "Désactivation d'un compte",
    "user.password": "Changement de mot de passe", "user.password_reset": "Réinitialisation du mot de passe",
    "user.update": "Modification d'un compte", "user.invite": "Invitation",
    "reporting.draft": "Brouillon de reporting", "reporting.import": "Import d'un fichier de reporting",
    "reporting.figures": "Saisie des indicateurs", "reporting.submit": "Dépôt d'un rapport",
    "reporting.validate": "Validation d'un rapport", "reporting.reject": "Rejet d'un rapport",
    "reporting.late": "Retard de reporting", "reporting.alert": "Alerte de double financement",
    "reporting.act_edit": "Modification d'un acte", "reporting.act_delete": "Suppression d'un acte",
    "control.opened": "Ouverture d'un contrôle", "control.answered": "Réponse à un contrôle",
    "control.judged": "Avis sur un dossier contrôlé", "control.closed": "Clôture d'un contrôle",
    "control.expired": "Échéance d'un contrôle dépassée",
    "billing.statement_computed": "Calcul d'un état liquidatif",
    "billing.statement_certified": "Certification du service fait",
    "billing.statement_withdrawn": "Retrait d'un état liquidatif",
    "billing.invoice_recorded": "Enregistrement d'une facture",
    "billing.invoice_accept": "Acceptation d'une facture", "billing.invoice_dispute": "Contestation d'une facture",
    "billing.invoice_reject": "Rejet d'une facture", "billing.credit_note": "Avoir",
    "billing.payment": "Paiement", "billing.payments_imported": "Import de paiements",
    "billing.interest_settlement": "Paiement des intérêts moratoires",
    "billing.ecb_rate": "Taux BCE", "billing.index_value": "Valeur d'indice",
    "site.open": "Ouverture d'un site", "site.close": "Fermeture d'un site",
    "site_change.propose": "Demande sur un site", "site_change.approve": "Demande sur un site approuvée",
    "site_change.refuse": "Demande sur un site refusée", "site_change.withdraw": "Demande sur un site retirée",
    "price.create": "Prix créé", "market.lot_manager": "Chargé(e) de marché d'un lot",
    **{f"{kind}.{verb}": f"{what} : {done}"
       for kind, what in (("amendment", "Avenant"), ("contract", "Contrat"), ("flag_rule", "Règle de signalement"),
                          ("lot", "Lot"), ("market", "Marché"), ("member", "Membre du groupement"),
                          ("operator", "Titulaire"), ("target", "Objectif"), ("uo", "Unité d'œuvre"))
       for verb, done in (("create", "création"), ("update", "modification"))},
}

#: Kinds of objects in the audit log (``AuditEntry.object_type``: model class names)
OBJECT_TYPES = {
    "Act": "Acte", "Amendment": "Avenant", "AuditEntry": "Entrée du journal",
    "ControlCampaign": "Contrôle de service fait", "ControlItem": "Dossier contrôlé",
    "ControlPeriod": "Période contrôlée", "ControlProof": "Justificatif",
    "DocumentSequence": "Numérotation", "DoubleFinancingAlert": "Alerte de double financement",
    "EcbRate": "Taux BCE", "Flag": "Signalement", "FlagReading": "Relevé de signalement",
    "FlagRule": "Règle de signalement", "IndexValue": "Valeur d'indice",
    "InterestSettlement": "Intérêts moratoires", "Invoice": "Facture", "JobRun": "Tâche planifiée",
    "LoginAttempt": "Tentative de connexion", "Lot": "Lot", "LotContract": "Contrat du lot",
    "LotFigures": "Indicateurs du lot", "LotMonthStat": "Statistiques mensuelles",
    "LotTarget": "Objectif du lot", "Market": "Marché", "Notification": "Message",
    "Operator": "Titulaire", "OperatorMember": "Membre du groupement",
    "PayableStatement": "État liquidatif", "PayableStatementLine": "Ligne d'état liquidatif",
    "Payment": "Paiement", "PaymentImport": "Import de paiements", "Price": "Prix",
    "Reconciliation": "Rapprochement", "Report": "Rapport mensuel", "ReportImport": "Import de reporting",
    "ReportVersion": "Version de rapport", "Site": "Site", "SiteChange": "Demande sur un site",
    "SteeringPack": "Dossier de pilotage", "SteeringRefresh": "Actualisation du pilotage",
    "UnitOfWork": "Unité d'œuvre", "User": "Compte utilisateur", "-": "Sans objet",
}

#: Actors that are not users (``AuditEntry.actor``)
ACTORS = {"système": "Système", "cli": "Ligne de commande", "scheduler": "Tâche planifiée"}

#: Rounding modes of the contract (``rounding`` keys): their labels live with the terms
from fc_market.market.terms import ROUNDING_LABELS as ROUNDING  # noqa: E402

#: Sampling methods of the controls of service fait
SAMPLING_METHODS = {
    "stratified-proportional-value/v2": "tirage aléatoire stratifié par unité d'œuvre, "
                                        "proportionnel aux montants, reproductible hors de "
                                        "l'application (méthode 2)",
    "stratified-proportional-value/v1": "tirage aléatoire stratifié par unité d'œuvre, "
                                        "proportionnel aux montants (méthode 1)",
}

#: Code lists of the reporting dictionary (sex, age band, employment status…): the
#: dictionary is the one source, re-exported here
from fc_market.reporting.dictionary import CODE_LISTS  # noqa: E402

#: Three-way match of an invoice against its certified statement (labels: MatchStatus)
MATCH_TONES = {"matched": "ok", "mismatch": "bad"}
#: Kinds of billing documents (``Invoice.kind``)
INVOICE_KINDS = {"invoice": "Facture", "credit_note": "Avoir"}
#: Origin of a payment (``Payment.source``)
PAYMENT_SOURCES = {"import": "Import", "manual": "Saisie"}

#: Families of labels by name, for the ``label`` template filter: ``code|label("audit_action")``
FAMILIES = {"audit_action": AUDIT_ACTIONS, "object_type": OBJECT_TYPES, "actor": ACTORS,
            "rounding": ROUNDING, "sampling": SAMPLING_METHODS,
            "invoice_kind": INVOICE_KINDS, "payment_source": PAYMENT_SOURCES, **CODE_LISTS}


def label(code, family):
    """The French label of *code* in *family*; the code itself if unknown (and "—" if none)."""
    if code is None or code == "":
        return "—"
    return FAMILIES[family].get(code, code)


#: Colour of each status in a badge: ok (green), warn (orange), bad (red), info (blue),
#: new, or neutral (grey); by family
STATUS_TONES = {
    "invoice": {"received": "info", "accepted": "ok", "disputed": "warn", "rejected": "bad"},
    "statement": {"open": "warn", "certified": "ok"},
    "version": {"draft": "neutral", "submitted": "info", "validated": "ok", "rejected": "bad",
                "superseded": "neutral"},
    "alert": {"open": "warn", "confirmed": "bad", "dismissed": "neutral"},
    "campaign": {"open": "info", "closed": "ok"},
    "verdict": {"pending": "neutral", "conforme": "ok", "non_conforme": "bad",
                "non_justifie": "warn"},
    "site_change": {"pending": "info", "approved": "ok", "refused": "bad", "withdrawn": "neutral"},
    "match": MATCH_TONES,
}


def status_labels(family):
    """The French labels of a status family (kept on the models' status classes)."""
    from fc_market.billing.models import InvoiceStatus, MatchStatus, StatementStatus
    from fc_market.controls.models import CampaignStatus, Verdict
    from fc_market.reporting.models import AlertStatus, VersionStatus
    from fc_market.territory.models import ChangeStatus
    return {"invoice": InvoiceStatus.LABELS, "statement": StatementStatus.LABELS,
            "version": VersionStatus.LABELS, "alert": AlertStatus.LABELS,
            "campaign": CampaignStatus.LABELS, "verdict": Verdict.LABELS,
            "site_change": ChangeStatus.LABELS, "match": MatchStatus.LABELS}[family]


def status_label(family, code):
    return status_labels(family).get(code, code) if code is not None else "—"


def status_tone(family, code):
    return STATUS_TONES.get(family, {}).get(code, "neutral")


TEMPLATE_GLOBALS = {"status_label": status_label, "status_tone": status_tone}
TEMPLATE_FILTERS = {"label": label}
