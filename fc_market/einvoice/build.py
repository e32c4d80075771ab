"""The invoice the operator should file for a certified payable statement, as EN 16931 data:
one line per statement line (UO and price), the price revision as a line charge (or
allowance), service-fait withholdings (and penalties that reduce the VAT base) as document
allowances, totals equal to the statement to the cent.  Seller: the groupement's mandataire
(SIRET); buyer: France compétences with its SIRET, Chorus Pro service code and the lot's
engagement number (contract file [market.publication], [lots.publication]); buyer
reference (BT-10): the statement's number."""
import io
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from facturx import generate_from_binary
from facturx.generate_xml import generate_xml

from fc_market.billing.service import three_way
from fc_market.formatting import month
from fc_market.market.dates import parse_period
from fc_market.market.terms import lot_terms

#: EN 16931 codes used (UNTDID 1001 document types, UNECE rec. 20 units, UNTDID 5305 VAT)
INVOICE_TYPE = "380"
CREDIT_NOTE_TYPE = "381"
UNIT_CODE = "C62"  # one (a unit of work)
VAT_STANDARD, VAT_EXEMPT = "S", "E"
#: ISO 6523 scheme of the SIRENE identifiers (SIRET) in EN 16931
SIRET_SCHEME = "0002"
EN16931 = "urn:cen.eu:en16931:2017"
CENT = Decimal("0.01")


class InvoiceBuildError(ValueError):
    """Why the expected invoice cannot be produced (French)."""


def french_vat_number(siret):
    """The intra-community VAT number of a French company from its SIREN (the first 9 digits
    of the SIRET): FR + key + SIREN, key = (12 + 3 × (SIREN mod 97)) mod 97."""
    siren = int(siret[:9])
    return f"FR{(12 + 3 * (siren % 97)) % 97:02d}{siret[:9]}"


def _s(amount):
    return str(Decimal(amount).quantize(CENT))


@dataclass(frozen=True)
class ExpectedInvoice:
    statement_id: int
    number: str
    credit_note: bool
    data: dict


def default_number(statement):
    """A suggested invoice number (the operator keeps its own numbering if it has one)."""
    suffix = f"-R{statement.rank}" if statement.rank else ""
    return f"FAC-{statement.lot.code}-{statement.period.replace('-', '')}{suffix}"


def expected_invoice(statement, *, number=None, issued_on=None):
    """EN 16931 data of the invoice (or credit note) the operator files for ``statement``."""
    if not statement.is_certified:
        raise InvoiceBuildError("Le service fait de ce mois n'est pas certifié : aucune facture "
                                "n'est attendue.")
    lot, contract = statement.lot, statement.lot.contract
    market_pub, lot_pub = lot.market.publication, contract.publication
    if not market_pub or not lot_pub:
        raise InvoiceBuildError("Le fichier du marché ne donne pas les identifiants de l'acheteur "
                                "([market.publication]) ou le numéro d'engagement du lot "
                                "([lots.publication]).")
    operator = lot.operator
    seller = operator.mandataire if operator else None
    if seller is None:
        raise InvoiceBuildError(f"Le lot {lot.code} n'a pas de mandataire enregistré.")
    credit = statement.amount_payable < 0
    sign = Decimal(-1) if credit else Decimal(1)
    start, end = parse_period(statement.period)
    issued_on = issued_on or date.today()
    vat_rate_pct = (statement.vat_rate * 100).quantize(CENT)
    category = VAT_STANDARD if statement.vat_rate > 0 else VAT_EXEMPT
    withheld = {r["uo_code"]: r["withheld"] for r in three_way(statement)}
    lines = []
    for position, line in enumerate(statement.lines, start=1):
        qty, price = line.quantity, line.unit_price
        if not qty or (Decimal(qty) * price).quantize(CENT) != line.gross_amount:
            qty, price = 1, line.gross_amount
        qty = qty * int(sign)
        net = line.amount * sign
        row = {"BT-126": str(position), "BT-129": str(qty), "BT-130": UNIT_CODE,
               "BT-146": f"{price:f}", "BT-151": category, "BT-152": str(vat_rate_pct),
               "BT-153": line.uo_code, "BT-154": line.label, "BT-155": line.uo_code,
               "BT-134": start, "BT-135": end}
        adjustment = line.revision_adjustment * sign
        if adjustment > 0:
            row["BG-28"] = [{"amount": _s(adjustment), "reason_code": "ABK",
                             "reason": f"Révision de prix (coefficient {statement.revision_coefficient})"}]
        line_allowances = []
        if adjustment < 0:
            line_allowances.append({"amount": _s(-adjustment), "reason_code": "95",
                                    "reason": f"Révision de prix (coefficient {statement.revision_coefficient})"})
        # the control withholding of the UO is taken on its first line, as the three-way match does
        cut = withheld.pop(line.uo_code, Decimal(0)) * sign
        if cut > 0:
            line_allowances.append({"amount": _s(cut), "reason_code": "95",
                                    "reason": "Retenue au titre du contrôle de service fait"})
            net -= cut
        if line_allowances:
            row["BG-27"] = line_allowances
        row["BT-131"] = _s(net)
        lines.append(row)
    sum_lines = sum((Decimal(row["BT-131"]) for row in lines), Decimal(0))
    total_excl = statement.total_excl_tax * sign
    allowances = []
    reduction = sum_lines - total_excl
    charges = []
    if reduction < 0:  # the statement's floor at zero: nothing is owed below it
        charges.append({"amount": _s(-reduction), "reason": "Plancher de l'état liquidatif",
                        "reason_code": "ABK", "vat_category_code": category,
                        "vat_rate": str(vat_rate_pct)})
    elif reduction:
        allowances.append({"amount": _s(reduction),
                           "reason": "Pénalités déduites de la base hors taxes"
                           if statement.penalties else "Écart d'arrondi de la retenue",
                           "reason_code": "95", "vat_category_code": category,
                           "vat_rate": str(vat_rate_pct)})
    notes = [{"BT-22": f"Facture de l'{statement.title[0].lower()}{statement.title[1:]}, lot "
                       f"{lot.code} — {lot.name}, mois de {month(statement.period)}."}]
    deducted = statement.penalties_deducted_incl_tax * sign
    if deducted:
        notes.append({"BT-22": f"Pénalités de {_s(deducted)} EUR déduites par l'acheteur au paiement "
                               "(hors champ de la TVA) : net à payer "
                               f"{_s(statement.amount_payable * sign)} EUR."})
    vat_breakdown = {"BT-116": _s(total_excl), "BT-117": _s(statement.vat * sign),
                     "BT-118": category, "BT-119": str(vat_rate_pct)}
    if category == VAT_EXEMPT:
        vat_breakdown["BT-120"] = "Exonération de TVA prévue au contrat"
    number = number or default_number(statement)
    data = {
        "BT-1": number, "BT-2": issued_on, "BT-3": CREDIT_NOTE_TYPE if credit else INVOICE_TYPE,
        "BT-5": "EUR", "BT-10": statement.number, "BT-12": contract.reference,
        "BT-13": lot_pub["engagement_number"], "BT-24": EN16931,
        "BT-20": (f"Paiement sous {lot_terms(lot, issued_on).payment_term_days} jours à compter "
                  "de la réception de "
                  "la demande de paiement (code de la commande publique, art. R2192-10 à R2192-12)."),
        "BT-72": end, "BT-73": start, "BT-74": end,
        "BG-1": notes,
        "BG-4": {"name": seller.legal_name, "legal_identifier": seller.siret,
                 "legal_identifier_schemeid": SIRET_SCHEME,
                 "vat_identifier": french_vat_number(seller.siret), "country_code": "FR",
                 "legal_info": f"Mandataire du groupement {operator.name}"},
        "BG-7": {"name": lot.market.buyer, "legal_identifier": market_pub["buyer_siret"],
                 "legal_identifier_schemeid": SIRET_SCHEME,
                 "identifiers": {"": market_pub["buyer_service_code"]},
                 "vat_identifier": market_pub.get("buyer_vat_number"),
                 "postcode": market_pub.get("buyer_postcode"), "city": market_pub.get("buyer_city"),
                 "country_code": "FR"},
        "BG-20": allowances,
        "BG-23": [vat_breakdown],
        "BG-25": lines,
        "BG-21": charges,
        "BT-106": _s(sum_lines), "BT-107": _s(reduction) if reduction > 0 else None,
        "BT-108": _s(-reduction) if reduction < 0 else None,
        "BT-109": _s(total_excl), "BT-110": _s(statement.vat * sign),
        "BT-112": _s(statement.total_incl_tax * sign), "BT-115": _s(statement.total_incl_tax * sign),
    }
    if credit:
        earlier = next((s.live_invoice for s in [statement.adjusts] if s and s.live_invoice), None)
        if earlier is not None:
            data["BG-3"] = [{"BT-25": earlier.number, "BT-26": earlier.issued_on}]
    return ExpectedInvoice(statement.id, number, credit, {k: v for k, v in data.items() if v not in (None, [])})


def cii_xml(expected):
    return generate_xml(expected.data, flavor="factur-x", level="en16931", check_xsd=True,
                        check_schematron=False)


def ubl_xml(expected):
    return generate_xml(expected.data, flavor="ubl-2.1", level="en16931", check_xsd=True,
                        check_schematron=False)


def facturx_pdf(expected, statement):
    """A readable PDF of the invoice with its CII XML embedded (Factur-X, profile EN 16931)."""
    from fc_market.einvoice.pdf import invoice_pdf
    xml = cii_xml(expected)
    visual = invoice_pdf(expected, statement)
    meta = {"author": statement.lot.operator.mandataire.legal_name,
            "keywords": "Factur-X, facture", "title": f"Facture {expected.number}",
            "subject": f"Facture {expected.number} — état liquidatif {statement.number}"}
    return generate_from_binary(visual, xml, flavor="factur-x", level="en16931", check_xsd=True,
                                pdf_metadata=meta, lang="fr-FR")
