"""The billing lists (invoices, payments, statements): one definition each, for the DSFR
table on screen and its Excel export (see fc_market/tables.py)."""
from datetime import date

import sqlalchemy as sa
from flask import url_for
from markupsafe import Markup

from fc_market.billing import service
from fc_market.billing.models import (Invoice, InvoiceStatus, MatchState, MatchStatus,
                                      PayableStatement, Payment, StatementStatus)

MATCH_STATUS = MatchStatus.LABELS
#: What the list reads: a rejected invoice is never "Conforme" (MatchState)
MATCH_STATE = MatchState.LABELS
from fc_market.labels import INVOICE_KINDS, MATCH_TONES, PAYMENT_SOURCES, STATUS_TONES
from fc_market.market.models import Lot
from fc_market.tables import (Col, Filter, Table, badge, link, lot_filter, period_filter,
                              search_filter, status_filter)

_LOT_CODE_OF_INVOICE = sa.select(Lot.code).where(Lot.id == Invoice.lot_id).scalar_subquery()
_PERIOD_OF_INVOICE = (sa.select(PayableStatement.period)
                      .where(PayableStatement.id == Invoice.statement_id).scalar_subquery())


def invoice_rows(invoices, today=None):
    """The figures of each invoice the list shows (the identity's terms, due date, delay from
    :func:`service.payment_clock`), computed for the rows fetched only."""
    today = today or date.today()
    rows = []
    for inv in invoices:
        terms = service.invoice_terms(inv)
        rows.append({"invoice": inv, "id": inv.id, "lot": inv.lot.code, "kind": inv.kind,
                     "number": inv.number, "period": inv.statement.period,
                     "issued_on": inv.issued_on, "received_on": inv.receipt_date,
                     "excl": inv.amount_excl_tax, "vat": inv.vat, "incl": inv.amount_incl_tax,
                     "match": inv.match_state, "status": inv.status,
                     "credited": terms["credited"], "deducted": terms["deducted"],
                     "not_certified": terms["not_certified"],
                     "due": service.amount_due(inv), "paid": service.paid(inv),
                     "outstanding": service.outstanding(inv), **service.delay_fields(inv, today)})
        row = rows[-1]
        row["overdue"] = bool(row["late"] and row["outstanding"])
    return rows


def _delay_html(row):
    if row["delay_days"] is None:
        return Markup("—")
    text = Markup("{} j").format(row["delay_days"])
    if row["delay_running"]:
        text += Markup(" <small>à ce jour</small>")
    if row["late"]:
        return Markup('<span class="fc-late">{}</span>').format(text)
    return text


def _due_html(row):
    from fc_market.formatting import day
    if row["due_on"] is None and row["interrupted"]:
        return Markup("<small>délai interrompu, pièces attendues</small>")
    if row["overdue"]:
        return Markup('<span class="fc-late">{} <small>dépassée</small></span>').format(day(row["due_on"]))
    return Markup("{}").format(day(row["due_on"]))


INVOICES = Table(
    "factures", "Factures et avoirs",
    [Col("lot", "Lot", sort=_LOT_CODE_OF_INVOICE),
     Col("kind", "Type", labels=INVOICE_KINDS, sort=Invoice.kind),
     Col("number", "Numéro", sort=Invoice.number,
         html=link(lambda r: r["number"], lambda r: url_for("billing.invoice", invoice_id=r["id"]))),
     Col("period", "Mois", kind="month", sort=_PERIOD_OF_INVOICE),
     Col("issued_on", "Date", kind="date", sort=Invoice.issued_on, screen=False),
     Col("received_on", "Reçue le", kind="date", sort=Invoice.received_on),
     Col("excl", "HT", kind="money", sort=Invoice.amount_excl_tax, screen=False),
     Col("vat", "TVA", kind="money", sort=Invoice.vat, screen=False),
     Col("incl", "TTC", kind="money", sort=Invoice.amount_incl_tax),
     Col("match", "Rapprochement", labels=MATCH_STATE, sort=Invoice.match_status,
         html=badge(MATCH_STATE, MATCH_TONES, "match")),
     Col("status", "Statut", labels=InvoiceStatus.LABELS, sort=Invoice.status,
         html=badge(InvoiceStatus.LABELS, STATUS_TONES["invoice"], "status")),
     Col("credited", "Avoirs", kind="money", screen=False),
     Col("deducted", "Pénalités déduites", kind="money", screen=False),
     Col("not_certified", "Facturé au-delà du certifié", kind="money", screen=False),
     Col("due", "Montant dû", kind="money"),
     Col("paid", "Payé", kind="money"),
     Col("outstanding", "Reste à payer", kind="money"),
     Col("due_on", "Échéance", kind="date", html=_due_html),
     Col("paid_on", "Payée le", kind="date"),
     Col("delay_days", "Délai de paiement", kind="int", html=_delay_html,
         export_label="Délai de paiement (jours)")],
    filters=[lot_filter(Invoice.lot_id),
             period_filter(_PERIOD_OF_INVOICE, label="Mois facturé"),
             status_filter(Invoice.status, InvoiceStatus.LABELS),
             Filter("rapprochement", "Rapprochement", "select",
                    apply=lambda stmt, value: stmt.where(Invoice.match_status == value),
                    options=lambda: list(MATCH_STATUS.items())),
             search_filter("Numéro", Invoice.number, hint="Tout ou partie du numéro")],
    default_sort="-received_on", tiebreak=Invoice.id.desc(), noun=("document", "documents"),
    empty="Aucune facture.", prepare=invoice_rows, sheet_title="Factures")


def payment_rows(payments):
    return [{"payment": p, "lot": p.lot.code, "paid_on": p.paid_on, "amount": p.amount,
             "invoice_number": p.invoice_number, "reference": p.reference, "source": p.source,
             "reconciled": p.reconciled, "unreconciled": p.amount - p.reconciled}
            for p in payments]


def _unreconciled_html(row):
    from fc_market.formatting import money
    if row["unreconciled"]:
        return Markup('<span class="fc-warn">{}</span>').format(money(row["unreconciled"]))
    return Markup("{}").format(money(row["unreconciled"]))


PAYMENTS = Table(
    "paiements", "Paiements",
    [Col("lot", "Lot", sort=sa.select(Lot.code).where(Lot.id == Payment.lot_id).scalar_subquery()),
     Col("paid_on", "Date", kind="date", sort=Payment.paid_on),
     Col("amount", "Montant", kind="money", sort=Payment.amount),
     Col("invoice_number", "Facture", sort=Payment.invoice_number),
     Col("reference", "Référence", sort=Payment.reference),
     Col("source", "Origine", labels=PAYMENT_SOURCES, sort=Payment.source),
     Col("reconciled", "Lettré", kind="money"),
     Col("unreconciled", "Non lettré", kind="money", html=_unreconciled_html)],
    filters=[lot_filter(Payment.lot_id), period_filter(Payment.paid_on, label="Mois du paiement"),
             Filter("origine", "Origine", "select",
                    apply=lambda stmt, value: stmt.where(Payment.source == value),
                    options=lambda: list(PAYMENT_SOURCES.items())),
             search_filter("Facture ou référence", Payment.invoice_number, Payment.reference)],
    default_sort="-paid_on", tiebreak=Payment.id.desc(), noun=("paiement", "paiements"),
    empty="Aucun paiement.", prepare=payment_rows)


def _statement_html(st):
    return Markup('<a href="{}">{}</a>').format(url_for("billing.statement", statement_id=st.id),
                                                st.title)


def _statement_kind(st):
    return f"Rectificatif n° {st.rank}" if st.rank else "État"


def _invoice_of(st):
    invoice = st.live_invoice
    return invoice.number if invoice else None


_LOT_CODE_OF_STATEMENT = (sa.select(Lot.code).where(Lot.id == PayableStatement.lot_id)
                          .scalar_subquery())

STATEMENTS = Table(
    "etats", "États liquidatifs",
    [Col("lot", "Lot", "lot.code", sort=_LOT_CODE_OF_STATEMENT),
     Col("period", "Mois", kind="month", sort=PayableStatement.period),
     Col("title", "État", html=_statement_html, sort=PayableStatement.number),
     Col("kind", "Nature", _statement_kind, sort=PayableStatement.rank),
     Col("status", "Statut", labels=StatementStatus.LABELS, sort=PayableStatement.status,
         html=badge(StatementStatus.LABELS, STATUS_TONES["statement"], "status")),
     Col("total_excl_tax", "Total HT", kind="money", sort=PayableStatement.total_excl_tax),
     Col("withholdings", "Retenues CSF", kind="money", sort=PayableStatement.withholdings),
     Col("amount_payable", "Net à payer", kind="money", sort=PayableStatement.amount_payable),
     Col("certified_at", "Certifié le", kind="datetime", sort=PayableStatement.certified_at,
         export_label="Certifié le (heure de Paris)"),
     Col("invoice", "Facture", _invoice_of)],
    filters=[lot_filter(PayableStatement.lot_id), period_filter(PayableStatement.period, label="Mois"),
             status_filter(PayableStatement.status, StatementStatus.LABELS),
             search_filter("Numéro", PayableStatement.number, hint="Tout ou partie du numéro d'état")],
    default_sort="-period", tiebreak=PayableStatement.id.desc(),
    noun=("état", "états"), empty="Aucun état liquidatif.")
