"""Import of the accounting system's payment export (xlsx or CSV), idempotent.

Expected columns (header on the first row, names matched without case or accents):
invoice number (``facture``, ``n° facture``…), payment date (``date``, ``date de paiement``),
amount (``montant``…) and accounting reference (``référence``, ``mandat``…).

Each line gets a fingerprint (normalised invoice number, date, amount, reference): a line
already imported — from this file or another — is counted as a duplicate and adds nothing.
Lines whose invoice is unknown, rejected or already paid are reported, never stored.
A malformed file (or a malformed line) rejects the whole import: nothing is written.
"""
import csv
import hashlib
import io
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from fc_market.audit.service import record
from fc_market.billing import service
from fc_market.billing.models import Invoice, InvoiceStatus, Payment, PaymentImport
from fc_market.extensions import db

MAX_LINES = 20000
MAX_BYTES = 10 * 1024 * 1024
HEADERS = {
    "invoice_number": ("facture", "n facture", "no facture", "numero facture", "numero de facture",
                       "n de facture", "invoice", "invoice number", "piece", "num facture"),
    "paid_on": ("date", "date de paiement", "date paiement", "date de reglement", "paid on",
                "date mise en paiement"),
    "amount": ("montant", "montant paye", "montant ttc", "montant regle", "amount"),
    "reference": ("reference", "ref", "reference comptable", "mandat", "n mandat", "numero de mandat",
                  "reference paiement"),
}


class ImportRefused(ValueError):
    """The file cannot be imported: ``errors`` lists French messages naming rows and fields."""

    def __init__(self, errors):
        super().__init__("; ".join(errors[:3]))
        self.errors = errors


def _norm(text):
    text = unicodedata.normalize("NFKD", str(text or "")).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


@dataclass
class Line:
    row: int
    invoice_number: str
    paid_on: date
    amount: Decimal
    reference: str | None
    fingerprint: str = field(default="")


def _read_csv(data):
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # neither UTF-8 nor Windows-1252: a binary file
        raise ImportRefused(["Le fichier n'est pas un fichier CSV texte lisible."])
    if "\x00" in text:
        raise ImportRefused(["Le fichier n'est pas un fichier CSV texte lisible."])
    sample = text[:4096]
    delimiter = ";" if sample.count(";") >= sample.count(",") else ","
    if "\t" in sample and sample.count("\t") > sample.count(delimiter):
        delimiter = "\t"
    return list(enumerate(csv.reader(io.StringIO(text), delimiter=delimiter), start=1))


def _read_xlsx(data):
    """Rows of the first visible worksheet as ``(row number, values)``, through the shared
    checked reader (zip bombs, external links, formulas… refused with a French message)."""
    from fc_market.excel.reader import open_checked
    from fc_market.excel.safety import WorkbookError
    try:
        with open_checked(data, max_rows=MAX_LINES + 1, max_cols=50) as book:
            sheet = next((s for s in book.info.sheets
                          if s.kind == "worksheet" and s.state == "visible"), None)
            if sheet is None:
                raise ImportRefused(["Le classeur ne contient aucune feuille visible."])
            return list(book.raw_rows(sheet.name, max_rows=MAX_LINES + 1))
    except WorkbookError as exc:
        raise ImportRefused([exc.message]) from None


def _cell_text(value):
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value) if not value.is_integer() else str(int(value))
    return str(value).strip()


def _parse_date(value):
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = _cell_text(value)
    for fmt in ("%d/%m/%Y", "%Y-%m-%d", "%d-%m-%Y", "%d.%m.%Y"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"date « {text} » illisible (attendu JJ/MM/AAAA)")


def _parse_amount(value):
    if isinstance(value, bool):
        raise ValueError("montant invalide")
    if isinstance(value, float):
        # Excel stores numbers as binary doubles: take the shortest decimal that round-trips
        # and require whole cents (1234.56 → 1234.56; 0.1 + 0.2 would be refused)
        amount = Decimal(repr(value))
    elif isinstance(value, int):
        amount = Decimal(value)
    else:
        text = _cell_text(value).replace("\u202f", "").replace("\u00a0", "").replace(" ", "")
        text = text.replace("€", "").replace("EUR", "")
        if "," in text and "." in text:
            text = text.replace(".", "").replace(",", ".")
        text = text.replace(",", ".")
        try:
            amount = Decimal(text)
        except InvalidOperation:
            raise ValueError(f"montant « {_cell_text(value)} » illisible") from None
    if not amount.is_finite() or amount != amount.quantize(Decimal("0.01")):
        raise ValueError(f"montant « {_cell_text(value)} » : au plus deux décimales")
    if amount <= 0:
        raise ValueError(f"montant « {_cell_text(value)} » : doit être positif")
    return amount.quantize(Decimal("0.01"))


def parse(data, filename):
    """[Line] from the file, or ImportRefused with every error found."""
    if not data:
        raise ImportRefused(["Le fichier est vide."])
    if data[:4] == b"PK\x03\x04" or (filename or "").lower().endswith((".xlsx", ".xlsm")):
        rows = _read_xlsx(data)
        sheet = "le classeur"
    else:
        rows = _read_csv(data)
        sheet = "le fichier CSV"
    rows = [(n, r) for n, r in rows if any(_cell_text(c) for c in r)]
    if not rows:
        raise ImportRefused([f"Aucune ligne dans {sheet}."])
    if len(rows) > MAX_LINES + 1:
        raise ImportRefused([f"Trop de lignes ({len(rows) - 1}) : {MAX_LINES} au plus par import."])
    header = [_norm(_cell_text(c)) for c in rows[0][1]]
    columns = {}
    for key, names in HEADERS.items():
        for i, name in enumerate(header):
            if name in names and key not in columns:
                columns[key] = i
    missing = [label for key, label in (("invoice_number", "n° de facture"), ("paid_on", "date"),
                                         ("amount", "montant")) if key not in columns]
    if missing:
        raise ImportRefused([f"Ligne 1 (en-têtes) : colonne(s) introuvable(s) : {', '.join(missing)} "
                             "(attendu : Facture ; Date ; Montant ; Référence)."])
    lines, errors = [], []
    for number, row in rows[1:]:
        def cell(key):
            i = columns.get(key)
            return row[i] if i is not None and i < len(row) else None
        invoice_number = _cell_text(cell("invoice_number"))
        try:
            if not invoice_number:
                raise ValueError("n° de facture manquant")
            paid_on = _parse_date(cell("paid_on"))
            amount = _parse_amount(cell("amount"))
        except ValueError as exc:
            errors.append(f"Ligne {number} : {exc}.")
            continue
        reference = _cell_text(cell("reference"))[:60] or None
        line = Line(number, invoice_number[:60], paid_on, amount, reference)
        line.fingerprint = service._fingerprint(line.invoice_number, paid_on, amount, reference)
        lines.append(line)
    if errors:
        raise ImportRefused(errors)
    return lines


def import_payments(data, filename, user=None, *, today=None):
    """Import the file in one transaction; returns the PaymentImport with its report.

    Raises ImportRefused (nothing written) for a malformed file, and
    :class:`service.BillingError` when the same lines were imported at the same moment by
    someone else (the loser's transaction is rolled back).
    """
    today = today or date.today()
    lines = parse(data, filename)
    digest = hashlib.sha256(data).hexdigest()
    known = set(db.session.scalars(sa.select(Payment.fingerprint).where(
        Payment.fingerprint.in_([l.fingerprint for l in lines])))) if lines else set()
    batch = PaymentImport(file_name=(filename or "import")[:200], file_sha256=digest,
                          imported_by_id=getattr(user, "id", None), lines_read=len(lines))
    db.session.add(batch)
    db.session.flush()
    report, seen = [], set()
    numbers = {l.invoice_number.upper() for l in lines}
    invoices = {}
    for inv in db.session.scalars(sa.select(Invoice).where(
            sa.func.upper(Invoice.number).in_(numbers), Invoice.kind == "invoice")):
        invoices.setdefault(inv.number.upper(), []).append(inv)

    def unmatched(line, reason):
        report.append({"row": line.row, "invoice_number": line.invoice_number,
                       "date": line.paid_on.isoformat(), "amount": str(line.amount),
                       "reference": line.reference, "reason": reason})
        batch.unmatched += 1

    for line in lines:
        if line.fingerprint in known or line.fingerprint in seen:
            batch.duplicates += 1
            continue
        seen.add(line.fingerprint)
        found = invoices.get(line.invoice_number.upper(), [])
        if not found:
            unmatched(line, "Facture inconnue")
            continue
        if len(found) > 1:
            unmatched(line, "Numéro de facture présent dans plusieurs lots")
            continue
        invoice = found[0]
        if invoice.status == InvoiceStatus.REJECTED:
            unmatched(line, "Facture rejetée")
            continue
        if line.paid_on > today or line.paid_on < invoice.received_on:
            unmatched(line, "Date de paiement incohérente avec la facture")
            continue
        if service.outstanding(invoice) <= 0:
            unmatched(line, "Facture déjà soldée")
            continue
        payment = Payment(lot_id=invoice.lot_id, paid_on=line.paid_on, amount=line.amount,
                          reference=line.reference, invoice_number=line.invoice_number,
                          source="import", import_id=batch.id, fingerprint=line.fingerprint,
                          recorded_by_id=getattr(user, "id", None))
        db.session.add(payment)
        try:
            db.session.flush()
        except IntegrityError:
            raise service.BillingError(
                "Ces paiements viennent d'être importés par un autre utilisateur (même fichier "
                "ou mêmes lignes) : rien n'a été ajouté. Rechargez la page pour voir le résultat.") \
                from None
        service._reconcile(payment, invoice, user)
        batch.added += 1
    batch.report = report
    record("billing.payments_imported", batch, user=user, summary=(
        f"Import des paiements « {batch.file_name} » : {batch.lines_read} ligne(s), {batch.added} "
        f"ajoutée(s), {batch.duplicates} déjà connue(s), {batch.unmatched} non rapprochée(s)."))
    return batch
