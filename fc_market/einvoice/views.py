"""Structured invoices on screen: download the Factur-X expected for a certified statement;
file a Factur-X, CII or UBL invoice, see its three-way match line by line, confirm, record."""
import base64
import binascii
from datetime import date

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from fc_market import storage
from fc_market.access import get_in_lot, roles
from fc_market.auth.models import Role
from fc_market.billing.models import MatchStatus, PayableStatement
from fc_market.billing.service import BillingError
from fc_market.einvoice import build, read, service
from fc_market.einvoice.forms import RECEIVED_HINT, ConfirmStructuredForm, StructuredInvoiceForm

bp = Blueprint("einvoice", __name__)

#: Who files invoices: the mandataire, or finance on its behalf
FILERS = (Role.MANDATAIRE, Role.FINANCE)


def _statement(statement_id):
    return get_in_lot(PayableStatement, statement_id)


@bp.get("/etats/<int:statement_id>/facture-attendue.pdf")
@roles(*Role.ALL)
def expected_pdf(statement_id):
    st = _statement(statement_id)
    try:
        expected = build.expected_invoice(st)
        pdf = build.facturx_pdf(expected, st)
    except build.InvoiceBuildError as exc:
        flash(str(exc), "error")
        return redirect(url_for("billing.statement", statement_id=st.id))
    return Response(pdf, mimetype="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="{expected.number}-factur-x.pdf"'})


def _received_on(value, today, inv):
    if value and value > today:
        raise BillingError("Date de dépôt sur Chorus Pro : elle ne peut pas être dans le futur.")
    value = value or today
    if value < inv.issued_on:
        raise BillingError(f"Date de dépôt sur Chorus Pro : elle précède la date d'émission de la "
                           f"facture (BT-2, {inv.issued_on:%d/%m/%Y}).")
    return value


def _refuse_form(st, form, message):
    flash(message, "error")
    return render_template("einvoice/upload.html", st=st, lot=st.lot, form=form,
                           received_hint=RECEIVED_HINT), 422


@bp.route("/etats/<int:statement_id>/facture-electronique", methods=["GET", "POST"])
@roles(*FILERS)
def upload(statement_id):
    st = _statement(statement_id)
    if not st.is_certified or st.live_invoice is not None:
        flash("Cet état n'attend pas de facture (non certifié ou déjà facturé).", "warning")
        return redirect(url_for("billing.statement", statement_id=st.id))
    form = StructuredInvoiceForm()
    if not form.validate_on_submit():
        if request.method == "POST":
            return _refuse_form(st, form, "Formulaire incomplet : voir les champs signalés.")
        return render_template("einvoice/upload.html", st=st, lot=st.lot, form=form,
                               received_hint=RECEIVED_HINT)
    f = request.files.get("file")
    data = f.read(storage.MAX_FILE_BYTES + 1) if f and f.filename else b""
    today = date.today()
    try:
        inv = read.read(f.filename if f else "", data)
        received_on = _received_on(form.received_on.data, today, inv)
        preview = service.preview(st, inv)
    except (read.InvoiceFileRefused, BillingError) as exc:
        return _refuse_form(st, form, str(exc))
    confirm = ConfirmStructuredForm(formdata=None, payload=base64.b64encode(data).decode("ascii"),
                                    file_name=storage.safe_name(f.filename), received_on=received_on,
                                    comment=form.comment.data or "")
    return render_template("einvoice/preview.html", st=st, lot=st.lot, preview=preview, form=confirm,
                           received_on=received_on)


@bp.post("/etats/<int:statement_id>/facture-electronique/confirmation")
@roles(*FILERS)
def confirm(statement_id):
    st = _statement(statement_id)
    form = ConfirmStructuredForm()
    if not form.validate_on_submit():
        flash("La confirmation a expiré ou est incomplète : déposez le fichier à nouveau.", "error")
        return redirect(url_for("einvoice.upload", statement_id=st.id))
    try:
        data = base64.b64decode(form.payload.data or "", validate=True)
    except (binascii.Error, ValueError):
        abort(400)
    today = date.today()
    try:
        inv = read.read(form.file_name.data, data)
        received_on = _received_on(form.received_on.data, today, inv)
        preview = service.preview(st, inv)
        if not preview.matches and not form.accept_difference.data:
            flash("L'écart avec l'état certifié doit être confirmé explicitement (case à cocher).", "error")
            return render_template("einvoice/preview.html", st=st, lot=st.lot, preview=preview,
                                   form=form, received_on=received_on), 422
        invoice = service.record(st, inv, current_user, received_on=received_on,
                                 comment=form.comment.data or None, today=today)
    except (read.InvoiceFileRefused, BillingError, storage.FileRefused) as exc:
        flash(str(exc), "error")
        return redirect(url_for("einvoice.upload", statement_id=st.id))
    flash(f"{invoice.kind_label} {invoice.number} enregistrée depuis le fichier {inv.flavor_label} : "
          + ("montants conformes à l'état." if invoice.match_status == MatchStatus.MATCHED
             else "écart avec l'état, confirmé."),
          "success" if invoice.match_status == MatchStatus.MATCHED else "warning")
    return redirect(url_for("billing.invoice", invoice_id=invoice.id))


def register(app):
    app.register_blueprint(bp)
