"""The items of a control of service fait: one definition for the DSFR table on the campaign
page and the "Dossiers" sheet of its export."""
import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from fc_market.controls.models import ControlItem, Verdict
from fc_market.labels import STATUS_TONES
from fc_market.tables import Col, Filter, Table, badge, period_filter, search_filter


def _uo_options():
    from fc_market.market.models import UnitOfWork
    from fc_market.extensions import db
    return [(code, code) for code in db.session.scalars(
        sa.select(UnitOfWork.code).distinct().order_by(UnitOfWork.code))]


CONTROL_ITEMS = Table(
    "dossiers", "Dossiers contrôlés",
    [Col("period", "Mois", kind="month", sort=ControlItem.period),
     Col("uo_code", "UO", sort=ControlItem.uo_code),
     Col("beneficiary_id", "Bénéficiaire (pseudonyme)", sort=ControlItem.beneficiary_id),
     Col("act_date", "Date de l'acte", kind="date", sort=ControlItem.act_date),
     Col("proof_ref", "Référence déclarée"),
     Col("value", "Valeur HT", kind="money", sort=ControlItem.value),
     Col("answer", "Réponse du mandataire", "answer_reference", export_label="Référence fournie"),
     Col("files", "Fichiers", lambda i: len(i.proofs), kind="int", screen=False),
     Col("answered_at", "Réponse le", kind="datetime", sort=ControlItem.answered_at, screen=False,
         export_label="Réponse le (heure de Paris)"),
     Col("verdict", "Avis", labels=Verdict.LABELS, sort=ControlItem.verdict,
         html=badge(Verdict.LABELS, STATUS_TONES["verdict"], "verdict")),
     Col("reason", "Motif", lambda i: i.reason_label if i.reason_code else None, screen=False),
     Col("comment", "Commentaire", "verdict_comment", screen=False)],
    filters=[Filter("etat", "Avis", "select", options=list(Verdict.LABELS.items()),
                    apply=lambda stmt, value: stmt.where(ControlItem.verdict == value)),
             Filter("uo", "UO", "select", options=_uo_options,
                    apply=lambda stmt, value: stmt.where(ControlItem.uo_code == value)),
             period_filter(ControlItem.period, label="Mois"),
             search_filter("Bénéficiaire", ControlItem.beneficiary_id, ControlItem.proof_ref,
                           hint="Pseudonyme ou référence déclarée")],
    default_sort="period", tiebreak=ControlItem.id, noun=("dossier", "dossiers"),
    empty="Aucun dossier.", sheet_title="Dossiers")


def items_of(campaign):
    return (sa.select(ControlItem).where(ControlItem.campaign_id == campaign.id)
            .options(selectinload(ControlItem.proofs)))
