"""Reading the invoice an operator files: a Factur-X PDF, a CII XML or a UBL XML.

The file is checked like every upload (size, no XML DOCTYPE/ENTITY, a PDF that parses and
carries nothing active, no attachment but the invoice XML), then validated against its XSD,
then read into a :class:`StructuredInvoice` value whose totals must add up.  Every refusal is
a French message naming the field (EN 16931 business term).
"""
import io
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from lxml import etree

from fc_market import storage

#: Names under which Factur-X / ZUGFeRD / XRechnung embed the invoice XML
INVOICE_ATTACHMENTS = {"factur-x.xml", "zugferd-invoice.xml", "xrechnung.xml", "order-x.xml"}
_DECLARATION = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)
CII_NS = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
UBL_NS = {"urn:oasis:names:specification:ubl:schema:xsd:Invoice-2",
          "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"}
CREDIT_NOTE_CODES = {"381", "261", "262", "296", "308", "396", "420", "458", "532"}
CENT = Decimal("0.01")

#: Labels of the business terms named in messages
FIELDS = {
    "BT-1": "Numéro de facture (BT-1)", "BT-2": "Date d'émission (BT-2)",
    "BT-3": "Type de document (BT-3)", "BT-5": "Devise (BT-5)",
    "BT-10": "Référence acheteur (BT-10)", "BT-30": "SIRET du vendeur (BT-30)",
    "BT-106": "Somme des montants nets des lignes (BT-106)",
    "BT-107": "Somme des remises de document (BT-107)",
    "BT-108": "Somme des charges de document (BT-108)",
    "BT-109": "Total HT (BT-109)", "BT-110": "Total TVA (BT-110)", "BT-112": "Total TTC (BT-112)",
    "BT-115": "Montant à payer (BT-115)", "BG-23": "Ventilation de la TVA (BG-23)",
    "BG-25": "Lignes de facture (BG-25)",
}


class InvoiceFileRefused(ValueError):
    """A French message naming the field of the invoice that is wrong."""

    def __init__(self, message, field=None):
        self.field = field
        super().__init__(f"{FIELDS.get(field, field)} : {message}" if field else message)


@dataclass(frozen=True)
class InvoiceLine:
    uo_code: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal


@dataclass(frozen=True)
class StructuredInvoice:
    """What fc_market takes from a structured invoice (amounts as on the invoice, positive
    for a credit note as EN 16931 writes them)."""
    flavor: str  # factur-x, cii or ubl
    number: str
    issued_on: date
    credit_note: bool
    seller_name: str
    seller_siret: str | None
    buyer_reference: str | None
    order_reference: str | None
    amount_excl_tax: Decimal
    vat: Decimal
    amount_incl_tax: Decimal
    amount_due: Decimal
    lines: tuple
    #: The file to keep: the PDF for Factur-X, the XML otherwise
    file_bytes: bytes
    file_mimetype: str

    @property
    def flavor_label(self):
        return {"factur-x": "Factur-X (PDF avec XML CII)", "cii": "XML CII (UN/CEFACT)",
                "ubl": "XML UBL 2.1"}[self.flavor]

    def lines_by_uo(self):
        out = {}
        for line in self.lines:
            out[line.uo_code] = out.get(line.uo_code, Decimal(0)) + line.amount
        return [{"uo_code": k, "amount": str(v)} for k, v in out.items()]


def looks_structured(data):
    """True for an XML file, or a PDF that carries an invoice XML (Factur-X)."""
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<"):
        return True
    if data.startswith(b"%PDF-"):
        try:
            return bool(_pdf_attachments(data))
        except InvoiceFileRefused:
            return False
    return False


def _safe_xml(xml):
    if _DECLARATION.search(xml):
        raise InvoiceFileRefused("Le fichier XML contient des déclarations DOCTYPE/ENTITY, "
                                 "interdites (sécurité).")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                             huge_tree=False, remove_comments=True)
    try:
        return etree.fromstring(xml, parser)
    except etree.XMLSyntaxError as exc:
        raise InvoiceFileRefused(f"Le fichier n'est pas un XML bien formé ({exc.msg}, ligne "
                                 f"{exc.lineno}).") from None


def _pdf_attachments(data):
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        attachments = dict(reader.attachments)
        _ = len(reader.pages)
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InvoiceFileRefused(f"Le PDF ne peut pas être lu ({exc.__class__.__name__}).") from None
    return attachments


def _check_pdf(data):
    """The invoice XML of a Factur-X PDF, after the upload checker every file goes through
    (parses, nothing active, no attachment but the invoice XML)."""
    try:
        storage.check(data, ("application/pdf",), INVOICE_ATTACHMENTS)
    except storage.FileRefused as exc:
        raise InvoiceFileRefused(str(exc)) from None
    attachments = _pdf_attachments(data)
    xml_parts = [content for name in INVOICE_ATTACHMENTS & set(attachments)
                 for content in attachments[name]]
    if len(xml_parts) != 1:
        raise InvoiceFileRefused("Ce PDF ne contient pas de XML de facture Factur-X : déposez un "
                                 "PDF Factur-X, un XML CII ou UBL, ou saisissez la facture.")
    return xml_parts[0]


def _decimal(value, field):
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, TypeError):
        raise InvoiceFileRefused(f"montant illisible « {value} »", field) from None
    if not number.is_finite():
        raise InvoiceFileRefused(f"montant illisible « {value} »", field)
    return number


def _required(d, field):
    value = d.get(field)
    if value in (None, "", []):
        raise InvoiceFileRefused("absent du fichier", field)
    return value


def read(filename, data, *, max_bytes=storage.MAX_FILE_BYTES):
    """The :class:`StructuredInvoice` in ``data``; raises :class:`InvoiceFileRefused`."""
    from facturx import xml_check_xsd
    from facturx.parse_xml import parse_ubl_cii_xml
    if not data:
        raise InvoiceFileRefused("Le fichier est vide.")
    if len(data) > max_bytes:
        raise InvoiceFileRefused(f"Le fichier dépasse la taille maximale de "
                                 f"{max_bytes // (1024 * 1024)} Mo.")
    if data.startswith(b"%PDF-"):
        xml, flavor, mimetype = _check_pdf(data), "factur-x", "application/pdf"
    else:
        xml, flavor, mimetype = data, None, "application/xml"
    root = _safe_xml(xml)
    namespace = etree.QName(root).namespace
    if namespace == CII_NS:
        flavor = flavor or "cii"
        xsd_flavor = "factur-x"
    elif namespace in UBL_NS:
        if flavor == "factur-x":
            raise InvoiceFileRefused("Le XML joint au PDF n'est pas un XML CII (Factur-X).")
        flavor, xsd_flavor = "ubl", "ubl"
    else:
        raise InvoiceFileRefused("Format de facture non reconnu : Factur-X, XML CII (UN/CEFACT) "
                                 "ou XML UBL 2.1 attendu.")
    try:
        xml_check_xsd(root, flavor=xsd_flavor)
    except Exception as exc:  # the package raises a bare Exception with lxml's message
        detail = str(exc).split("Here is the error, which may give you an idea on the cause of "
                                "the problem: ")[-1].strip()
        raise InvoiceFileRefused(f"Le XML ne respecte pas le schéma XSD officiel ({detail}).") from None
    try:
        d = parse_ubl_cii_xml(etree.tostring(root), check_xsd=False)
    except Exception as exc:  # noqa: BLE001 - any parse failure is the file's
        raise InvoiceFileRefused(f"Le XML de la facture ne peut pas être lu ({exc}).") from None
    return _structured(d, flavor, data, mimetype)


def _structured(d, flavor, data, mimetype):
    number = str(_required(d, "BT-1")).strip()
    if len(number) > 60:
        raise InvoiceFileRefused("60 caractères au plus", "BT-1")
    issued_on = _required(d, "BT-2")
    if not isinstance(issued_on, date):
        raise InvoiceFileRefused("date illisible", "BT-2")
    if str(d.get("BT-5", "EUR")).upper() != "EUR":
        raise InvoiceFileRefused(f"la facture doit être en euros (trouvé « {d.get('BT-5')} »)", "BT-5")
    seller = d.get("BG-4") or {}
    siret = (seller.get("legal_identifier") or "").replace(" ", "") or None
    lines = []
    for i, line in enumerate(_required(d, "BG-25"), start=1):
        code = (line.get("BT-155") or line.get("BT-153") or "").strip()
        lines.append(InvoiceLine(uo_code=code, quantity=_decimal(line.get("BT-129", "0"), "BG-25"),
                                 unit_price=_decimal(line.get("BT-146", "0"), "BG-25"),
                                 amount=_decimal(_required(line, "BT-131"), "BG-25")))
    excl = _decimal(_required(d, "BT-109"), "BT-109")
    vat = _decimal(d.get("BT-110", "0"), "BT-110")
    incl = _decimal(_required(d, "BT-112"), "BT-112")
    due = _decimal(_required(d, "BT-115"), "BT-115")
    sum_lines = sum((line.amount for line in lines), Decimal(0))
    declared = _decimal(d["BT-106"], "BT-106") if d.get("BT-106") not in (None, "") else sum_lines
    if declared != sum_lines:
        raise InvoiceFileRefused(f"{declared} déclaré, mais les lignes totalisent {sum_lines}", "BT-106")
    allowances = _decimal(d.get("BT-107") or "0", "BT-107")
    charges = _decimal(d.get("BT-108") or "0", "BT-108")
    if sum_lines - allowances + charges != excl:
        raise InvoiceFileRefused(f"{excl} déclaré, mais lignes {sum_lines} − remises {allowances} + "
                                 f"charges {charges} = {sum_lines - allowances + charges}", "BT-109")
    breakdown = sum((_decimal(b.get("BT-117", "0"), "BG-23") for b in d.get("BG-23") or []), Decimal(0))
    if breakdown != vat:
        raise InvoiceFileRefused(f"la ventilation totalise {breakdown}, le total TVA est {vat}", "BG-23")
    if excl + vat != incl:
        raise InvoiceFileRefused(f"{incl} déclaré, mais HT {excl} + TVA {vat} = {excl + vat}", "BT-112")
    paid = _decimal(d.get("BT-113") or "0", "BT-115")
    rounding = _decimal(d.get("BT-114") or "0", "BT-115")
    if incl - paid + rounding != due:
        raise InvoiceFileRefused(f"{due} déclaré, mais TTC {incl} − déjà payé {paid} + arrondi "
                                 f"{rounding} = {incl - paid + rounding}", "BT-115")
    for value, field in ((excl, "BT-109"), (vat, "BT-110"), (incl, "BT-112")):
        if value != value.quantize(CENT):
            raise InvoiceFileRefused("au plus deux décimales", field)
    return StructuredInvoice(
        flavor=flavor, number=number, issued_on=issued_on,
        credit_note=str(d.get("BT-3", "380")) in CREDIT_NOTE_CODES,
        seller_name=seller.get("name") or "", seller_siret=siret,
        buyer_reference=(d.get("BT-10") or None), order_reference=(d.get("BT-13") or None),
        amount_excl_tax=excl, vat=vat, amount_incl_tax=incl, amount_due=due, lines=tuple(lines),
        file_bytes=data, file_mimetype=mimetype)
