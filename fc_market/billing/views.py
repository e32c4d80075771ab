"""Finance screens: payable statements, invoices, payments, interest, rates, dashboard."""
from datetime import date
from decimal import Decimal

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from fc_market import storage
from fc_market.access import get_in_lot, lot_by_code, roles, scoped, visible_lots
from fc_market.auth.models import Role
from fc_market.billing import payment_import, service, tables
from fc_market.billing.forms import (ComputeForm, CreditNoteForm, DecisionForm,
                                     DocumentsReceivedForm, EcbRateForm, ImportForm, IndexValueForm,
                                     InterestSettlementForm, InterruptionDocumentForm,
                                     InterruptionForm, InvoiceForm, PaymentForm, ReceiptDateForm,
                                     VersionForm)
from fc_market.billing.models import (EcbRate, IndexValue, InterruptionDocument, Invoice,
                                      InvoiceStatus, MatchStatus, PayableStatement,
                                      Payment, PaymentImport, Reconciliation)
from fc_market.exports import Column, Sheet, xlsx_response, month_column
from fc_market.extensions import db
from fc_market.market.dates import parse_period
from fc_market.market.models import Lot
from fc_market.market.terms import lot_terms, terms_of
from fc_market.money import D
from fc_market.formatting import money as fr_money, number as fr_number
from fc_market.unit_of_work import doom
from fc_market.web import add_lot_link, add_nav

bp = Blueprint("billing", __name__)
FINANCE = (Role.FINANCE,)


def _flash_form_errors(form):
    for name, errors in form.errors.items():
        label = getattr(form, name).label.text if hasattr(form, name) else name
        for e in errors:
            flash(f"{label} : {e}", "error")


def _year():
    try:
        year = int(request.args.get("annee", date.today().year))
    except ValueError:
        year = date.today().year
    return min(max(year, 2000), 2100)


# ------------------------------------------------------------------ dashboard

DASHBOARD_COLUMNS = [
    Column("code", "Lot", "text"), Column("name", "Région", "text"),
    Column("max_amount", "Montant maximum HT", "decimal"), Column("committed", "Certifié HT depuis le début", "decimal"),
    Column("committed_share", "Part du maximum", "percent"),
    Column("certified_year", "Certifié HT de l'année", "decimal"), Column("open_year", "Provisoire HT", "decimal"),
    Column("withholdings", "Retenues CSF HT (certifiées)", "decimal"),
    Column("penalties", "Pénalités HT (certifiées)", "decimal"),
    Column("payable", "Net à payer certifié TTC", "decimal"),
    Column("invoiced", "Facturé TTC", "decimal"), Column("credited", "Avoirs", "decimal"),
    Column("deducted", "Pénalités déduites", "decimal"),
    Column("not_certified", "Facturé au-delà du certifié", "decimal"), Column("paid", "Payé", "decimal"),
    Column("outstanding", "Reste à payer", "decimal"), Column("late", "Dont en retard", "decimal"),
    Column("late_count", "Factures en retard", "int"), Column("forecast", "Prévision HT fin d'année", "decimal")]

#: Money columns of the finance dashboard that add up over lots
DASHBOARD_SUMS = ("max_amount", "committed", "certified_year", "open_year", "withholdings", "penalties",
                  "payable", *service.IDENTITY_TERMS, "late", "forecast")


def _totals(rows, keys):
    return {k: sum((r[k] or Decimal("0") for r in rows), Decimal("0.00")) for k in keys}


@bp.get("/finances")
@roles(*Role.FC)
def dashboard():
    year = _year()
    rows = service.dashboard(visible_lots(), year)
    totals = _totals(rows, DASHBOARD_SUMS)
    from fc_market.consistency.figures import last_audit
    return render_template("billing/dashboard.html", rows=rows, totals=totals, year=year,
                           audit=last_audit())


@bp.get("/finances.xlsx")
@roles(*Role.FC)
def dashboard_export():
    year = _year()
    rows = service.dashboard(visible_lots(), year)
    return xlsx_response(f"finances-{year}.xlsx", [Sheet(f"Finances {year}", DASHBOARD_COLUMNS, rows)])


MONTH_COLUMNS = [
    month_column("period", "Mois"), Column("rank", "Rang (0 = état, n = rectificatif)", "int"),
    Column("number", "N° d'état", "text"), Column("status", "État", "text"),
    Column("total_excl_tax", "Total HT", "decimal"), Column("amount_payable", "Net à payer", "decimal"),
    Column("invoice_number", "Facture", "text"), Column("invoice_status", "Statut de la facture", "text"),
    Column("invoiced", "Facturé TTC", "decimal"), Column("paid", "Payé", "decimal"),
    Column("outstanding", "Reste à payer", "decimal"), Column("due_on", "Échéance", "date"),
    Column("paid_on", "Payée le", "date"), Column("delay_days", "Délai de paiement (jours)", "int")]


@bp.get("/lots/<code>/finances")
@roles(*Role.ALL)
def lot_finances(code):
    lot = lot_by_code(code)
    year = _year()
    rows = service.lot_months(lot, year)
    figures = service.dashboard([lot], year)[0]
    return render_template("billing/lot.html", lot=lot, rows=rows, year=year, figures=figures,
                           delays=service.delay_summary(rows, lot_terms(lot).payment_term_days),
                           compute_form=ComputeForm(), today=date.today())


@bp.get("/lots/<code>/finances.xlsx")
@roles(*Role.ALL)
def lot_finances_export(code):
    lot = lot_by_code(code)
    year = _year()
    return xlsx_response(f"finances-{lot.code}-{year}.xlsx",
                         [Sheet(f"{lot.code} {year}", MONTH_COLUMNS, service.lot_months(lot, year))])


@bp.post("/lots/<code>/etats")
@roles(*FINANCE)
def compute(code):
    lot = lot_by_code(code)
    form = ComputeForm()
    if not form.validate_on_submit():
        _flash_form_errors(form)
        return redirect(url_for("billing.lot_finances", code=lot.code))
    try:
        st = service.refresh_statement(lot, form.period.data, current_user, reason="calcul demandé")
    except service.BillingError as exc:
        flash(str(exc), "error")
        return redirect(url_for("billing.lot_finances", code=lot.code))
    if st is None:
        flash(f"Aucun reporting validé pour {lot.code} {form.period.data} : pas d'état.", "warning")
        return redirect(url_for("billing.lot_finances", code=lot.code))
    return redirect(url_for("billing.statement", statement_id=st.id))


# ----------------------------------------------------------------- statements

def _statements_base():
    return scoped(sa.select(PayableStatement), PayableStatement.lot_id).options(
        sa.orm.joinedload(PayableStatement.lot), sa.orm.selectinload(PayableStatement.invoices))


@bp.get("/etats")
@roles(*Role.ALL)
def statements():
    page = tables.STATEMENTS.page(_statements_base(), "billing.statements",
                                  hidden=_own_lot_only(), export_endpoint="billing.statements_export")
    return render_template("billing/statements.html", page=page)


@bp.get("/etats.xlsx")
@roles(*Role.ALL)
def statements_export():
    return tables.STATEMENTS.export(_statements_base(), "etats-liquidatifs.xlsx",
                                    hidden=_own_lot_only())


def _load_statement(statement_id):
    return get_in_lot(PayableStatement, statement_id)


@bp.get("/etats/<int:statement_id>")
@roles(*Role.ALL)
def statement(statement_id):
    st = _load_statement(statement_id)
    others = service.statements_of(st.lot_id, st.period)
    return render_template("billing/statement.html", st=st, lot=st.lot, others=others,
                           terms=terms_of(st.lot, parse_period(st.period)[0]),
                           rows=service.three_way(st), form=VersionForm(version=st.version_counter),
                           expected=service.expected_totals(st))


@bp.get("/etats/<int:statement_id>.xlsx")
@roles(*Role.ALL)
def statement_export(statement_id):
    st = _load_statement(statement_id)
    lines = [{"uo": l.uo_code, "label": l.label, "quantity": l.quantity, "unit_price": l.unit_price,
              "gross": l.gross_amount, "revision": l.revision_adjustment, "amount": l.amount}
             for l in st.lines]
    totals = [{"label": label, "amount": getattr(st, key)} for key, label in (
        ("subtotal", "Sous-total HT"), ("withholdings", "Retenues de contrôle de service fait"),
        ("total_excl_tax", "Total HT"), ("vat", "TVA"), ("total_incl_tax", "Total TTC"),
        ("penalties", "Pénalités de retard de reporting"),
        ("penalties_deducted_incl_tax", "Pénalités déduites"), ("amount_payable", "Net à payer"))]
    name = f"etat-{st.lot.code}-{st.period}" + (f"-rectif{st.rank}" if st.rank else "")
    return xlsx_response(f"{name}.xlsx", [
        Sheet("Lignes", [Column("uo", "UO", "text"), Column("label", "Libellé", "text"),
                         Column("quantity", "Quantité", "int"), Column("unit_price", "Prix unitaire HT", "decimal"),
                         Column("gross", "Montant au prix de base", "decimal"),
                         Column("revision", "Révision", "decimal"), Column("amount", "Montant HT", "decimal")],
              lines),
        Sheet("Totaux", [Column("label", "Poste", "text"), Column("amount", "Montant", "decimal")], totals)])


@bp.get("/etats/<int:statement_id>.pdf")
@roles(*Role.ALL)
def statement_pdf(statement_id):
    """The statement as a PDF (mandataire and finance), beside the Excel export."""
    from flask import Response

    from fc_market.billing.statement_pdf import statement_pdf as build
    st = _load_statement(statement_id)
    name = f"etat-{st.lot.code}-{st.period}" + (f"-rectif{st.rank}" if st.rank else "")
    return Response(build(st), mimetype="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{name}.pdf"'})


@bp.post("/etats/<int:statement_id>/recalcul")
@roles(*FINANCE)
def recompute(statement_id):
    st = _load_statement(statement_id)
    try:
        current = service.refresh_statement(st.lot, st.period, current_user, reason="recalcul demandé")
    except service.BillingError as exc:
        flash(str(exc), "error")
        return redirect(url_for("billing.statement", statement_id=statement_id))
    flash("État recalculé à partir des données en vigueur.", "success")
    if current is None:
        return redirect(url_for("billing.lot_finances", code=st.lot.code))
    return redirect(url_for("billing.statement", statement_id=current.id))


@bp.post("/etats/<int:statement_id>/certification")
@roles(*FINANCE)
def certify(statement_id):
    st = _load_statement(statement_id)
    form = VersionForm()
    try:
        service.certify(st.id, current_user, expected_version=form.version.data or None)
        flash("Service fait certifié : l'état est figé et numéroté.", "success")
    except service.BillingError as exc:
        flash(str(exc), "error")
    return redirect(url_for("billing.statement", statement_id=statement_id))


# ------------------------------------------------------------------- invoices

def _conflict(exc):
    """The French conflict page: someone recorded the same document at the same moment."""
    return render_template("errors/error.html", code=409, title="Enregistrement concurrent",
                           message=str(exc)), 409


def _pdf_upload():
    f = request.files.get("file")
    if not f or not f.filename:
        return None
    return f.filename, f.read(storage.MAX_FILE_BYTES + 1)


@bp.route("/etats/<int:statement_id>/facture", methods=["GET", "POST"])
@roles(Role.MANDATAIRE)
def new_invoice(statement_id):
    st = _load_statement(statement_id)
    if not st.is_certified or st.live_invoice is not None:
        flash("Cet état n'attend pas de facture (non certifié ou déjà facturé).", "warning")
        return redirect(url_for("billing.statement", statement_id=st.id))
    form = InvoiceForm()
    rows = service.three_way(st)
    if form.validate_on_submit():
        lines = [{"uo_code": r["uo_code"], "amount": request.form.get(f"line_{r['uo_code']}", "").strip()}
                 for r in rows]
        try:
            invoice = service.record_invoice(
                st, current_user, number=form.number.data, issued_on=form.issued_on.data,
                amount_excl_tax=form.amount_excl_tax.data, vat=form.vat.data,
                amount_incl_tax=form.amount_incl_tax.data, lines=lines, file=_pdf_upload(),
                comment=form.comment.data)
        except (service.BillingError, storage.FileRefused) as exc:
            if isinstance(exc, service.Conflict):
                return _conflict(exc)
            flash(str(exc), "error")
        else:
            flash(f"{invoice.kind_label} {invoice.number} enregistrée : "
                  + ("montants conformes à l'état." if invoice.match_status == MatchStatus.MATCHED
                     else "écart avec l'état, voir le détail."),
                  "success" if invoice.match_status == MatchStatus.MATCHED else "warning")
            return redirect(url_for("billing.invoice", invoice_id=invoice.id))
    elif request.method == "POST":
        _flash_form_errors(form)
    return render_template("billing/invoice_form.html", st=st, lot=st.lot, form=form, rows=rows,
                           expected=service.expected_totals(st), credit=st.amount_payable < 0)


def _invoices_base():
    return scoped(sa.select(Invoice), Invoice.lot_id).options(
        sa.orm.joinedload(Invoice.lot).selectinload(Lot.contract),
        sa.orm.joinedload(Invoice.statement).defer(PayableStatement.snapshot),
        sa.orm.selectinload(Invoice.reconciliations).selectinload(Reconciliation.payment),
        sa.orm.selectinload(Invoice.credit_notes), sa.orm.selectinload(Invoice.interruption))


def _own_lot_only():
    """Filters a mandataire does not see (a mandataire's lists hold their own lot only)."""
    return ("lot",) if current_user.is_mandataire else ()


@bp.get("/factures")
@roles(*Role.ALL)
def invoices():
    page = tables.INVOICES.page(_invoices_base(), "billing.invoices", hidden=_own_lot_only(),
                                export_endpoint="billing.invoices_export")
    return render_template("billing/invoices.html", page=page)


@bp.get("/factures.xlsx")
@roles(*Role.ALL)
def invoices_export():
    return tables.INVOICES.export(_invoices_base(), "factures.xlsx", hidden=_own_lot_only())


def _load_invoice(invoice_id):
    return get_in_lot(Invoice, invoice_id)


def _invoice_page(inv, status=200, **forms):
    rows, totals = service.match_invoice(inv)
    today = date.today()
    as_of, _ = _as_of()
    owed = service.late_interest(inv, as_of) if inv.kind == "invoice" else None
    clock = service.payment_clock(inv, today)
    interruption = inv.interruption
    defaults = {
        "form": DecisionForm(version=inv.version_counter),
        "settle_form": InterestSettlementForm(paid_on=today),
        "receipt_form": ReceiptDateForm(received_on=inv.receipt_date),
        "interruption_form": InterruptionForm(notified_on=today),
        "received_form": DocumentsReceivedForm(documents_received_on=today),
        "document_form": InterruptionDocumentForm(),
    }
    defaults.update(forms)
    return render_template("billing/invoice.html", inv=inv, lot=inv.lot, rows=rows, totals=totals,
                           owed=owed, terms=service.invoice_terms(inv), due=service.amount_due(inv),
                           paid=service.paid(inv), outstanding=service.outstanding(inv),
                           clock=clock, due_on=clock.due_on if clock else None,
                           term_days=service.payment_term_days(inv),
                           interruption=interruption,
                           can_interrupt=(inv.kind == "invoice" and interruption is None
                                          and inv.status == InvoiceStatus.RECEIVED
                                          and not service.payment_ordered(inv)),
                           interest_deadline=service.interest_deadline(owed), as_of=as_of,
                           today=today, **defaults), status


@bp.get("/factures/<int:invoice_id>")
@roles(*Role.ALL)
def invoice(invoice_id):
    return _invoice_page(_load_invoice(invoice_id))


def _field_refusal(inv, form_name, form, exc):
    """Re-render the invoice page with the refusal under its field: the unit is doomed (rolled
    back now, so the page shows what is stored, and at the end)."""
    doom("refus sur la page de la facture")
    inv = _load_invoice(inv.id)
    field = getattr(form, getattr(exc, "field", "") or "", None)
    if field is not None:
        field.errors = list(field.errors or []) + [str(exc)]
    else:
        flash(str(exc), "error")
    return _invoice_page(inv, 400, **{form_name: form})


def _invoice_form(invoice_id, form_class, form_name, act, done):
    """One of the invoice page's forms: checked, then ``act(inv, form)`` (the service's
    write), then back to the invoice with ``done``; a form error or a refusal
    (:class:`service.BillingError`, a refused file) re-renders the page with it under its
    field, nothing written."""
    inv = _load_invoice(invoice_id)
    form = form_class()
    if not form.validate_on_submit():
        return _invoice_page(inv, 400, **{form_name: form})
    try:
        act(inv, form)
    except (service.BillingError, storage.FileRefused) as exc:
        return _field_refusal(inv, form_name, form, exc)
    flash(done, "success")
    return redirect(url_for("billing.invoice", invoice_id=inv.id))


@bp.post("/factures/<int:invoice_id>/reception")
@roles(*FINANCE)
def receipt_date(invoice_id):
    return _invoice_form(
        invoice_id, ReceiptDateForm, "receipt_form",
        lambda inv, form: service.set_receipt_date(inv, current_user, form.received_on.data),
        "Date de réception enregistrée : le délai de paiement court à partir de cette date.")


@bp.post("/factures/<int:invoice_id>/interruption")
@roles(*FINANCE)
def interrupt(invoice_id):
    return _invoice_form(
        invoice_id, InterruptionForm, "interruption_form",
        lambda inv, form: service.interrupt(inv, current_user, notified_on=form.notified_on.data,
                                            reasons=form.reasons.data,
                                            documents_expected=form.documents_expected.data),
        "Délai de paiement interrompu : le mandataire est prévenu des pièces à fournir.")


@bp.post("/factures/<int:invoice_id>/interruption/reception")
@roles(*FINANCE)
def documents_received(invoice_id):
    return _invoice_form(
        invoice_id, DocumentsReceivedForm, "received_form",
        lambda inv, form: service.record_documents_received(inv, current_user,
                                                            form.documents_received_on.data),
        "Réception des pièces enregistrée : un nouveau délai de paiement court.")


def _add_document(inv, form):
    f = request.files.get("file")
    upload = (f.filename, f.read(storage.MAX_FILE_BYTES + 1)) if f and f.filename else None
    try:
        service.add_interruption_document(inv, current_user, upload, comment=form.comment.data)
    except storage.FileRefused as exc:
        exc.field = "file"
        raise


@bp.post("/factures/<int:invoice_id>/interruption/pieces")
@roles(Role.MANDATAIRE)
def interruption_document(invoice_id):
    return _invoice_form(invoice_id, InterruptionDocumentForm, "document_form", _add_document,
                         "Pièce déposée : France compétences en est prévenue.")


@bp.get("/factures/<int:invoice_id>/interruption/pieces/<int:document_id>")
@roles(*Role.ALL)
def interruption_document_file(invoice_id, document_id):
    inv = _load_invoice(invoice_id)
    doc = db.session.get(InterruptionDocument, document_id)
    if doc is None or inv.interruption is None or doc.interruption_id != inv.interruption.id:
        abort(404)
    try:
        return storage.send(doc.file_key, doc.file_mimetype, doc.file_name)
    except FileNotFoundError:
        abort(404)


@bp.get("/factures/<int:invoice_id>.xlsx")
@roles(*Role.ALL)
def invoice_export(invoice_id):
    inv = _load_invoice(invoice_id)
    rows, totals = service.match_invoice(inv)
    sheets = [
        Sheet("Rapprochement", [Column("uo_code", "UO", "text"), Column("quantity", "Quantité déclarée", "int"),
                                Column("amount", "Montant HT", "decimal"), Column("withheld", "Retenue CSF", "decimal"),
                                Column("certified", "Service fait HT", "decimal"),
                                Column("invoiced", "Facturé HT", "decimal"), Column("difference", "Écart", "decimal")],
              rows),
        Sheet("Totaux", [Column(lambda t: t[0], "Poste", "text"), Column(lambda t: t[1], "Attendu", "decimal"),
                         Column(lambda t: t[2], "Facturé", "decimal"), Column(lambda t: t[3], "Écart", "decimal")],
              totals),
        Sheet("Paiements", [Column(lambda r: r.payment.paid_on, "Date", "date"),
                            Column("amount", "Montant lettré", "decimal"),
                            Column(lambda r: r.payment.reference, "Référence", "text"),
                            Column(lambda r: "Import" if r.payment.source == "import" else "Saisie", "Origine", "text")],
              inv.reconciliations)]
    settled = inv.interest_settlement
    owed = None if settled or inv.kind != "invoice" else service.late_interest(inv)
    late = None
    if settled:
        late = {"state": "réglés", "interest": settled.interest, "indemnity": settled.indemnity,
                "total": settled.total, "paid_on": settled.paid_on, "explanation": settled.explanation}
    elif owed and owed.late:
        late = {"state": "dus", "interest": owed.interest, "indemnity": owed.flat_indemnity,
                "total": owed.total, "paid_on": None, "explanation": owed.explanation}
    if late:
        sheets.append(Sheet("Retard de paiement", [
            Column("state", "Intérêts", "text"), Column("interest", "Intérêts moratoires", "decimal"),
            Column("indemnity", "Indemnité forfaitaire", "decimal"), Column("total", "Total", "decimal"),
            Column("paid_on", "Payés le", "date"), Column("explanation", "Calcul", "text")], [late]))
    return xlsx_response(f"facture-{inv.lot.code}-{inv.number}.xlsx", sheets)


@bp.get("/factures/<int:invoice_id>/pdf")
@roles(*Role.ALL)
def invoice_file(invoice_id):
    inv = _load_invoice(invoice_id)
    if not inv.file_key:
        abort(404)
    try:
        return storage.send(inv.file_key, inv.file_mimetype, inv.file_name)
    except FileNotFoundError:
        abort(404)


@bp.post("/factures/<int:invoice_id>/decision")
@roles(*FINANCE)
def decide(invoice_id):
    inv = _load_invoice(invoice_id)
    form = DecisionForm()
    if not form.validate_on_submit():
        # the page again, the error on the field it concerns; nothing changed
        form.version.data = inv.version_counter
        return _invoice_page(inv, 400, form=form)
    try:
        service.decide(inv.id, current_user, form.action.data, reason=form.reason.data,
                       expected_version=form.version.data or None)
        flash("Décision enregistrée.", "success")
    except service.BillingError as exc:
        flash(str(exc), "error")
    return redirect(url_for("billing.invoice", invoice_id=invoice_id))


@bp.route("/factures/<int:invoice_id>/avoir", methods=["GET", "POST"])
@roles(Role.MANDATAIRE)
def credit_note(invoice_id):
    inv = _load_invoice(invoice_id)
    form = CreditNoteForm()
    if form.validate_on_submit():
        try:
            note = service.record_credit_note(
                inv, current_user, number=form.number.data, issued_on=form.issued_on.data,
                amount_excl_tax=form.amount_excl_tax.data, vat=form.vat.data,
                amount_incl_tax=form.amount_incl_tax.data, reason=form.reason.data, file=_pdf_upload())
            flash(f"Avoir {note.number} enregistré.", "success")
            return redirect(url_for("billing.invoice", invoice_id=inv.id))
        except (service.BillingError, storage.FileRefused) as exc:
            if isinstance(exc, service.Conflict):
                return _conflict(exc)
            flash(str(exc), "error")
    elif request.method == "POST":
        _flash_form_errors(form)
    return render_template("billing/credit_note_form.html", inv=inv, lot=inv.lot, form=form)


# ------------------------------------------------------------------- payments

def _payments_base():
    return scoped(sa.select(Payment), Payment.lot_id).options(
        sa.orm.joinedload(Payment.lot), sa.orm.selectinload(Payment.reconciliations))


def _payment_form():
    form = PaymentForm()
    form.lot.choices = [("", "— (numéro unique)")] + [(l.code, l.code) for l in visible_lots()]
    return form


@bp.get("/paiements")
@roles(*Role.FC)
def payments():
    imports = db.session.scalars(sa.select(PaymentImport).order_by(PaymentImport.id.desc()).limit(20)).all()
    page = tables.PAYMENTS.page(_payments_base(), "billing.payments",
                                export_endpoint="billing.payments_export")
    return render_template("billing/payments.html", page=page, form=_payment_form(),
                           import_form=ImportForm(), imports=imports)


@bp.get("/paiements.xlsx")
@roles(*Role.FC)
def payments_export():
    return tables.PAYMENTS.export(_payments_base(), "paiements.xlsx")


@bp.post("/paiements")
@roles(*FINANCE)
def add_payment():
    form = _payment_form()
    if not form.validate_on_submit():
        _flash_form_errors(form)
        return redirect(url_for("billing.payments"))
    lot_id = None
    if form.lot.data:
        lot_id = db.session.scalar(sa.select(Lot.id).where(Lot.code == form.lot.data))
    try:
        service.record_payment_by_number(form.invoice_number.data, current_user, lot_id=lot_id,
                                         paid_on=form.paid_on.data, amount=form.amount.data,
                                         reference=form.reference.data)
        flash("Paiement enregistré et lettré.", "success")
    except service.BillingError as exc:
        flash(str(exc), "error")
    except sa.exc.IntegrityError:
        flash("Ce paiement vient d'être enregistré par un autre utilisateur.", "error")
    return redirect(url_for("billing.payments"))


@bp.post("/paiements/import")
@roles(*FINANCE)
def import_payments():
    f = request.files.get("file")
    if not f or not f.filename:
        flash("Choisissez le fichier exporté de la comptabilité (.xlsx ou .csv).", "error")
        return redirect(url_for("billing.payments"))
    data = f.read(payment_import.MAX_BYTES + 1)
    if len(data) > payment_import.MAX_BYTES:
        flash("Le fichier dépasse 10 Mo.", "error")
        return redirect(url_for("billing.payments"))
    try:
        batch = payment_import.import_payments(data, storage.safe_name(f.filename), current_user)
    except payment_import.ImportRefused as exc:
        flash(f"Fichier refusé, rien n'a été importé ({len(exc.errors)} problème(s)) :", "error")
        for e in exc.errors[:50]:
            flash(e, "error")
        return redirect(url_for("billing.payments"))
    except service.BillingError as exc:
        flash(str(exc), "error")
        return redirect(url_for("billing.payments"))
    flash(f"Import terminé : {batch.added} paiement(s) ajouté(s), {batch.duplicates} déjà connu(s), "
          f"{batch.unmatched} ligne(s) non rapprochée(s).",
          "success" if not batch.unmatched else "warning")
    return redirect(url_for("billing.payment_import_report", import_id=batch.id))


@bp.get("/paiements/imports/<int:import_id>")
@roles(*Role.FC)
def payment_import_report(import_id):
    batch = db.session.get(PaymentImport, import_id) or abort(404)
    return render_template("billing/import.html", batch=batch)


@bp.get("/paiements/imports/<int:import_id>.xlsx")
@roles(*Role.FC)
def payment_import_export(import_id):
    batch = db.session.get(PaymentImport, import_id) or abort(404)
    rows = batch.unmatched_lines
    columns = [Column("row", "Ligne du fichier", "int"), Column("invoice_number", "Facture", "text"),
               Column("date", "Date de paiement", "date"), Column("amount", "Montant", "decimal"),
               Column("reference", "Référence", "text"), Column("reason", "Motif", "text")]
    return xlsx_response(f"import-paiements-{batch.id}-non-rapproches.xlsx",
                         [Sheet("Lignes non rapprochées", columns, rows)])


# ------------------------------------------------------------------- interest

INTEREST_COLUMNS = [
    Column("lot", "Lot", "text"), Column("number", "Facture", "text"), Column("received_on", "Reçue le", "date"),
    Column("due_on", "Échéance", "date"), Column("principal", "Montant dû", "decimal"),
    Column("unpaid", "Impayé", "decimal"), Column("rate", "Taux (%)", "text"),
    Column("days", "Jours de retard (max.)", "int"), Column("interest", "Intérêts moratoires", "decimal"),
    Column("indemnity", "Indemnité forfaitaire", "decimal"), Column("total", "Total dû", "decimal"),
    Column("deadline", "À payer au plus tard le (R. 2192-36)", "date"),
    Column("overdue_label", "Délai de 45 jours dépassé", "text"),
    Column("state", "État", "text"), Column("explanation", "Calcul", "text")]


SETTLEMENT_COLUMNS = [
    Column("lot", "Lot", "text"), Column("number", "Facture", "text"),
    Column("paid_on", "Intérêts payés le", "date"), Column("interest", "Intérêts moratoires", "decimal"),
    Column("indemnity", "Indemnité forfaitaire", "decimal"), Column("total", "Total payé", "decimal"),
    Column("reference", "Référence", "text"), Column("explanation", "Calcul", "text")]


def _as_of():
    """The day finance computes the interest at (``?au=AAAA-MM-JJ``, default today; never
    in the future)."""
    text, today = request.args.get("au"), date.today()
    if not text:
        return today, None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return today, f"Date d'arrêté des intérêts invalide « {text} » : calcul au {today:%d/%m/%Y}."
    if day > today:
        return today, f"La date d'arrêté des intérêts ne peut pas être dans le futur : calcul au {today:%d/%m/%Y}."
    return day, None


def _interest_rows(as_of):
    lots = [l.id for l in visible_lots()]
    rows = []
    for inv, res in service.interest_owed(as_of, lots):
        deadline = service.interest_deadline(res)
        overdue = deadline is not None and as_of > deadline
        rows.append({"invoice": inv, "lot": inv.lot.code, "number": inv.number, "received_on": inv.receipt_date,
                     "due_on": res.due_date, "principal": res.principal, "unpaid": res.unpaid,
                     "rate": fr_number(res.rate, 2) if res.rate is not None else "—", "days": max((p.days_late for p in res.portions), default=0),
                     "interest": res.interest, "indemnity": res.flat_indemnity, "total": res.total,
                     "deadline": deadline, "overdue": overdue, "overdue_label": "oui" if overdue else "non",
                     "state": ("Intérêts courants (facture non soldée)" if res.unpaid
                               else "À payer — délai de 45 jours dépassé" if overdue else "À payer"),
                     "explanation": res.explanation})
    return rows


def _settlement_rows():
    return [{"invoice": s.invoice, "lot": s.invoice.lot.code, "number": s.invoice.number,
             "paid_on": s.paid_on, "interest": s.interest, "indemnity": s.indemnity,
             "total": s.total, "reference": s.reference, "explanation": s.explanation}
            for s in service.interest_settled([l.id for l in visible_lots()])]


@bp.get("/interets")
@roles(*Role.FC)
def interest():
    as_of, warning = _as_of()
    if warning:
        flash(warning, "error")
    rows, settled = _interest_rows(as_of), _settlement_rows()
    return render_template("billing/interest.html", rows=rows, settled=settled, as_of=as_of,
                           today=date.today(), overdue=sum(1 for r in rows if r["overdue"]),
                           totals=_totals(rows, ("interest", "indemnity", "total")),
                           settled_totals=_totals(settled, ("interest", "indemnity", "total")),
                           rates_known=bool(service.ecb_rates()))


@bp.get("/interets.xlsx")
@roles(*Role.FC)
def interest_export():
    as_of, _ = _as_of()
    return xlsx_response(f"interets-moratoires-{as_of.isoformat()}.xlsx", [
        Sheet(f"Intérêts dus au {as_of:%d-%m-%Y}", INTEREST_COLUMNS, _interest_rows(as_of)),
        Sheet("Intérêts réglés", SETTLEMENT_COLUMNS, _settlement_rows())])


@bp.post("/factures/<int:invoice_id>/interets")
@roles(*FINANCE)
def settle_interest(invoice_id):
    inv = _load_invoice(invoice_id)
    form = InterestSettlementForm()
    if not form.validate_on_submit():
        _flash_form_errors(form)
        return redirect(url_for("billing.invoice", invoice_id=inv.id))
    try:
        settlement = service.settle_interest(inv, current_user, paid_on=form.paid_on.data,
                                             reference=form.reference.data)
        flash(f"Paiement des intérêts moratoires enregistré ({fr_money(settlement.total)}).", "success")
    except service.BillingError as exc:
        flash(str(exc), "error")
    return redirect(url_for("billing.invoice", invoice_id=inv.id))


# ----------------------------------------------------------------------- rates

@bp.get("/finances/taux")
@roles(*Role.FC)
def rates():
    return render_template("billing/rates.html",
                           ecb=db.session.scalars(sa.select(EcbRate).order_by(EcbRate.effective_on.desc())).all(),
                           indexes=db.session.scalars(sa.select(IndexValue).order_by(
                               IndexValue.index_name, IndexValue.reference_month.desc())).all(),
                           ecb_form=EcbRateForm(), index_form=IndexValueForm())


@bp.get("/finances/taux.xlsx")
@roles(*Role.FC)
def rates_export():
    ecb = db.session.scalars(sa.select(EcbRate).order_by(EcbRate.effective_on)).all()
    idx = db.session.scalars(sa.select(IndexValue).order_by(IndexValue.index_name, IndexValue.reference_month)).all()
    return xlsx_response("taux-et-indices.xlsx", [
        Sheet("Taux BCE", [Column("effective_on", "En vigueur au", "date"), Column(lambda r: str(r.rate), "Taux (%)", "text"),
                           Column(lambda r: "oui" if r.illustrative else "non", "Illustratif", "text"),
                           Column("source", "Source", "text")], ecb),
        Sheet("Indices", [Column("index_name", "Indice", "text"), Column("reference_month", "Mois", "date"),
                          Column(lambda r: str(r.value), "Valeur", "text"), Column("published_on", "Publié le", "date"),
                          Column(lambda r: "oui" if r.illustrative else "non", "Illustratif", "text"),
                          Column("source", "Source", "text")], idx)])


def _number(text):
    return D(text.strip().replace(",", "."))


@bp.post("/finances/taux/bce")
@roles(*FINANCE)
def add_ecb_rate():
    form = EcbRateForm()
    if form.validate_on_submit():
        try:
            service.add_ecb_rate(form.effective_on.data, _number(form.rate.data), current_user,
                                 source=form.source.data or None, illustrative=form.illustrative.data)
            flash("Taux BCE enregistré.", "success")
        except service.BillingError as exc:
            flash(str(exc), "error")
    else:
        _flash_form_errors(form)
    return redirect(url_for("billing.rates"))


@bp.post("/finances/taux/indice")
@roles(*FINANCE)
def add_index_value():
    form = IndexValueForm()
    if form.validate_on_submit():
        year, month = form.reference_month.data.split("-")
        try:
            row = service.add_index_value(form.index_name.data, date(int(year), int(month), 1),
                                          _number(form.value.data), form.published_on.data, current_user,
                                          source=form.source.data or None,
                                          illustrative=form.illustrative.data)
            count = service.refresh_open_statements(
                since=f"{row.published_on.year}-01", user=current_user,
                reason=f"indice {row.index_name} {form.reference_month.data} saisi")
            flash(f"Valeur d'indice enregistrée ; {count} mois recalculé(s) (états provisoires "
                  "mis à jour, états rectificatifs si un état certifié change).", "success")
        except service.BillingError as exc:
            flash(str(exc), "error")
    else:
        _flash_form_errors(form)
    return redirect(url_for("billing.rates"))


def register(app):
    from fc_market import web
    app.register_blueprint(bp)
    web.HOME[Role.FINANCE] = "billing.dashboard"  # finance staff land on their dashboard
    add_nav("Finances", "billing.dashboard", Role.FC, order=50)
    add_nav("États liquidatifs", "billing.statements", Role.ALL, order=51)
    add_nav("Factures", "billing.invoices", Role.ALL, order=52)
    add_nav("Paiements", "billing.payments", Role.FC, order=54)
    add_nav("Intérêts moratoires", "billing.interest", Role.FC, order=56)
    add_lot_link("Liquidation et factures", "billing.lot_finances", Role.ALL, order=45)
    from fc_market.billing import jobs  # noqa: F401
