"""A structured invoice against its certified statement: who may have sent it, and the
three-way match shown line by line before anything is saved."""
from dataclasses import dataclass
from decimal import Decimal

from fc_market.billing import service as billing
from fc_market.billing.service import BillingError
from fc_market.einvoice.read import StructuredInvoice


@dataclass(frozen=True)
class Preview:
    """What the user confirms: per-UO rows (reported, certified, invoiced, difference), the
    totals expected and invoiced, remarks, and the total difference that needs an explicit
    confirmation."""
    invoice: StructuredInvoice
    rows: list
    totals: list
    remarks: list
    difference: Decimal

    @property
    def matches(self):
        return self.difference == 0 and not any(r["difference"] for r in self.rows
                                                if r["difference"] is not None)


def check_against(statement, inv):
    """Refuse what cannot be this statement's invoice (French message naming the field);
    return the remarks to show (a buyer reference other than the statement's number…)."""
    lot = statement.lot
    members = {m.siret: m for m in (lot.operator.members if lot.operator else [])}
    if not inv.seller_siret:
        raise BillingError("SIRET du vendeur (BT-30) : absent de la facture ; la facture doit être "
                           "émise par le mandataire du groupement titulaire du lot.")
    if inv.seller_siret not in members:
        raise BillingError(f"SIRET du vendeur (BT-30) : {inv.seller_siret} n'est pas un membre du "
                           f"groupement titulaire du lot {lot.code} ({lot.operator.name if lot.operator else '—'}).")
    credit_expected = statement.amount_payable < 0
    if inv.credit_note != credit_expected:
        raise BillingError("Type de document (BT-3) : " + (
            "cet état rectificatif est négatif, il appelle un avoir (code 381)." if credit_expected
            else "un avoir ne se dépose pas sur cet état : une facture (code 380) est attendue."))
    remarks = []
    member = members[inv.seller_siret]
    if member.role != "mandataire":
        remarks.append(f"La facture est émise par {member.legal_name}, membre du groupement, et non "
                       "par son mandataire.")
    if inv.buyer_reference != statement.number:
        remarks.append(f"Référence acheteur (BT-10) : « {inv.buyer_reference or '—'} » au lieu du numéro "
                       f"de l'état liquidatif « {statement.number} ».")
    engagement = (statement.lot.contract.publication or {}).get("engagement_number")
    if engagement and inv.order_reference != engagement:
        remarks.append(f"Numéro d'engagement (BT-13) : « {inv.order_reference or '—'} » au lieu de "
                       f"« {engagement} ».")
    unknown = sorted({l.uo_code for l in inv.lines} - {r["uo_code"] for r in billing.three_way(statement)})
    if unknown:
        remarks.append(f"Lignes d'UO absentes de l'état liquidatif : {', '.join(unknown)}.")
    return remarks


def preview(statement, inv):
    remarks = check_against(statement, inv)
    rows = billing.three_way(statement, inv.lines_by_uo())
    expected = billing.expected_totals(statement)
    invoiced = {"amount_excl_tax": inv.amount_excl_tax, "vat": inv.vat,
                "amount_incl_tax": inv.amount_incl_tax}
    totals = [(label, expected[key], invoiced[key], invoiced[key] - expected[key])
              for key, label in (("amount_excl_tax", "Total HT"), ("vat", "TVA"),
                                 ("amount_incl_tax", "Total TTC"))]
    return Preview(inv, rows, totals, remarks, inv.amount_incl_tax - expected["amount_incl_tax"])


def record(statement, inv, user, *, received_on=None, comment=None, today=None):
    """Record the structured invoice (after the user saw and confirmed the preview)."""
    check_against(statement, inv)
    extension = ".pdf" if inv.file_mimetype == "application/pdf" else ".xml"
    return billing.record_invoice(
        statement, user, number=inv.number, issued_on=inv.issued_on,
        amount_excl_tax=inv.amount_excl_tax, vat=inv.vat, amount_incl_tax=inv.amount_incl_tax,
        lines=inv.lines_by_uo(), file=(f"{inv.number}{extension}", inv.file_bytes),
        file_types=(inv.file_mimetype,), structured_format=inv.flavor, received_on=received_on,
        comment=comment, today=today)
