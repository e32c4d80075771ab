"""Service-fait control screens: campaigns, sample, answers with proofs, verdicts, outcome."""
from datetime import date

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from fc_market import storage
from fc_market.access import get_in_lot, lot_by_code, roles, scoped
from fc_market.auth.models import Role
from fc_market.controls import service
from fc_market.controls.forms import AnswerForm, CloseForm, JudgeForm, OpenCampaignForm
from fc_market.controls.models import (ControlCampaign, ControlItem,
                                       ControlProof, Verdict)
from fc_market.exports import Column, Sheet, month_column, xlsx_response
from fc_market.extensions import db
from fc_market.controls import tables
from fc_market.formatting import month
from fc_market.market.terms import terms_of
from fc_market.web import add_lot_link, add_nav

bp = Blueprint("controls", __name__)


def _campaigns(lot_id=None):
    stmt = scoped(service.campaigns_query(lot_id), ControlCampaign.lot_id)
    return db.session.scalars(stmt.options(sa.orm.joinedload(ControlCampaign.lot),
                                           sa.orm.selectinload(ControlCampaign.periods))).all()


def _campaign_rows(campaigns):
    counts = dict(db.session.execute(
        sa.select(ControlItem.campaign_id, sa.func.count())
        .where(ControlItem.campaign_id.in_([c.id for c in campaigns] or [0]),
               ControlItem.verdict == Verdict.PENDING)
        .group_by(ControlItem.campaign_id)).all())
    return [{"campaign": c, "reference": c.reference, "lot": c.lot.code, "periods": ", ".join(month(p) for p in c.period_list),
             "status": c.status_label, "population": c.population, "sample_size": c.sample_size,
             "pending": counts.get(c.id, 0), "due": c.response_due_on,
             "withheld": c.withheld_total} for c in campaigns]


CAMPAIGN_COLUMNS = [
    Column("reference", "Référence", "text"), Column("lot", "Lot", "text"),
    Column("periods", "Mois contrôlés", "text"), Column("status", "État", "text"),
    Column("population", "Actes facturés", "int"), Column("sample_size", "Dossiers tirés", "int"),
    Column("pending", "Dossiers à examiner", "int"), Column("due", "Échéance de réponse", "date"),
    Column("withheld", "Retenue HT", "decimal")]


@bp.get("/controles")
@roles(*Role.ALL)
def index():
    return render_template("controls/index.html", rows=_campaign_rows(_campaigns()), lot=None)


@bp.get("/controles.xlsx")
@roles(*Role.ALL)
def index_export():
    return xlsx_response("controles.xlsx", [Sheet("Contrôles", CAMPAIGN_COLUMNS,
                                                  _campaign_rows(_campaigns()))])


@bp.get("/lots/<code>/controles")
@roles(*Role.ALL)
def lot_campaigns(code):
    lot = lot_by_code(code)
    form = _open_form(lot)
    rate_note = service.expected_rate_for(lot)[1] if lot.contract else None
    return render_template("controls/index.html", rows=_campaign_rows(_campaigns(lot.id)), lot=lot,
                           form=form, rate_note=rate_note, controls=terms_of(lot).controls)


def _open_form(lot):
    form = OpenCampaignForm()
    form.periods.choices = [(p, p) for p in service.controllable_periods(lot)]
    return form


@bp.post("/lots/<code>/controles")
@roles(Role.MANAGER)
def open_campaign(code):
    lot = lot_by_code(code)
    form = _open_form(lot)
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for e in errors:
                flash(e, "error")
        return redirect(url_for("controls.lot_campaigns", code=lot.code))
    try:
        campaign = service.open_campaign(lot, form.periods.data, current_user,
                                         seed=form.seed.data or None, note=form.note.data)
    except service.ControlError as exc:
        flash(str(exc), "error")
        return redirect(url_for("controls.lot_campaigns", code=lot.code))
    flash(f"Contrôle {campaign.reference} ouvert : {campaign.sample_size} dossier(s) tiré(s).", "success")
    return redirect(url_for("controls.campaign", campaign_id=campaign.id))


def _load_campaign(campaign_id):
    return get_in_lot(ControlCampaign, campaign_id)


def _load_item(campaign_id, item_id):
    campaign = _load_campaign(campaign_id)
    item = get_in_lot(ControlItem, item_id)
    if item.campaign_id != campaign.id:
        abort(404)
    return campaign, item


@bp.get("/controles/<int:campaign_id>")
@roles(*Role.ALL)
def campaign(campaign_id):
    campaign = _load_campaign(campaign_id)
    per_uo, per_period = service.compute_outcome(campaign)
    try:
        reproducible = service.redraw(campaign)
    except service.ControlError:
        reproducible = None
    counts = {v: 0 for v in Verdict.LABELS}
    for item in campaign.items:
        counts[item.verdict] += 1
    items_page = tables.CONTROL_ITEMS.page(tables.items_of(campaign), "controls.campaign",
                                           url_values={"campaign_id": campaign.id},
                                           export_endpoint="controls.campaign_export")
    return render_template("controls/campaign.html", campaign=campaign, lot=campaign.lot,
                           per_uo=per_uo, per_period=per_period, reproducible=reproducible,
                           method=service.method_facts(campaign),
                           counts=counts, items_page=items_page, Verdict=Verdict,
                           reasons=campaign.reasons, answer_form=AnswerForm(),
                           judge_form=JudgeForm(), close_form=CloseForm(version=campaign.version_counter),
                           today=date.today())


@bp.get("/controles/<int:campaign_id>.xlsx")
@roles(*Role.ALL)
def campaign_export(campaign_id):
    campaign = _load_campaign(campaign_id)
    try:
        billed = service.billed_acts(campaign)
    except service.ControlError:
        billed = []
    per_uo, _ = service.compute_outcome(campaign)
    outcome = [{"uo": code, **o} for code, o in per_uo.items()]
    return xlsx_response(f"{campaign.reference}.xlsx", [
        tables.CONTROL_ITEMS.sheet(tables.items_of(campaign)),
        Sheet("Résultat par UO", [Column("uo", "UO", "text"), Column("N", "Actes facturés", "int"),
                                  Column("n", "Dossiers tirés", "int"),
                                  Column("nonconforming", "Non conformes ou non justifiés", "int"),
                                  Column("rate", "Taux", "text"), Column("lower", "Borne basse", "text"),
                                  Column("upper", "Borne haute", "text"),
                                  Column("withheld", "Retenue HT", "text")], outcome),
        Sheet("Actes facturés", [Column("uo", "UO (strate)", "text"),
                                 Column("key", "Clé de tirage", "text"),
                                 month_column("period", "Mois"),
                                 Column("act_date", "Date de l'acte", "date"),
                                 Column("beneficiary", "Bénéficiaire (pseudonyme)", "text"),
                                 Column("value", "Valeur HT", "decimal"),
                                 Column("drawn", "Tiré", "text")], billed),
        Sheet("Tirage", [Column("uo", "UO (strate)", "text"), Column("count", "Actes facturés", "int"),
                         Column("size", "Dossiers tirés (k)", "int"),
                         Column("hashed", "Texte haché (SHA-256, UTF-8)", "text"),
                         Column("seed", "Graine de la strate (hexadécimal)", "text")],
              service.method_facts(campaign)["strata"]),
    ])


def _uploaded_files():
    out = []
    for f in request.files.getlist("files"):
        if f and f.filename:
            out.append((f.filename, f.read(storage.MAX_FILE_BYTES + 1)))
    return out


@bp.post("/controles/<int:campaign_id>/dossiers/<int:item_id>/reponse")
@roles(Role.MANDATAIRE)
def answer(campaign_id, item_id):
    campaign, item = _load_item(campaign_id, item_id)
    form = AnswerForm()
    if not form.validate_on_submit():
        flash("Réponse invalide : vérifiez les champs.", "error")
        return redirect(url_for("controls.campaign", campaign_id=campaign.id, _anchor=f"d{item.id}"))
    try:
        service.answer_item(item, current_user, reference=form.reference.data,
                            comment=form.comment.data, files=_uploaded_files())
        flash(f"Réponse enregistrée pour le dossier {item.beneficiary_id}.", "success")
    except (service.ControlError, storage.FileRefused) as exc:
        flash(f"Dossier {item.beneficiary_id} : {exc}", "error")
    return redirect(url_for("controls.campaign", campaign_id=campaign.id, _anchor=f"d{item.id}"))


@bp.post("/controles/<int:campaign_id>/dossiers/<int:item_id>/avis")
@roles(Role.MANAGER)
def judge(campaign_id, item_id):
    campaign, item = _load_item(campaign_id, item_id)
    form = JudgeForm()
    form.reason.choices = {"": "—", **campaign.reasons}
    if not form.validate_on_submit():
        flash(f"Dossier {item.beneficiary_id} : aucun avis enregistré, choisissez « Conforme », "
              "« Non conforme » ou « Non justifié » dans la liste Avis.", "error")
        return redirect(url_for("controls.campaign", campaign_id=campaign.id, _anchor=f"d{item.id}"))
    try:
        service.judge_item(item, current_user, form.verdict.data, reason_code=form.reason.data or None,
                           comment=form.comment.data)
        flash(f"Avis enregistré pour le dossier {item.beneficiary_id}.", "success")
    except service.ControlError as exc:
        flash(f"Dossier {item.beneficiary_id} : {exc}", "error")
    return redirect(url_for("controls.campaign", campaign_id=campaign.id, _anchor=f"d{item.id}"))


@bp.post("/controles/<int:campaign_id>/cloture")
@roles(Role.MANAGER)
def close(campaign_id):
    campaign = _load_campaign(campaign_id)
    form = CloseForm()
    try:
        service.close_campaign(campaign, current_user, expected_version=form.version.data or None)
        flash(f"Contrôle {campaign.reference} clôturé ; la retenue est appliquée aux états liquidatifs.",
              "success")
    except (service.ControlError, ValueError) as exc:
        flash(str(exc), "error")
    return redirect(url_for("controls.campaign", campaign_id=campaign_id))


@bp.get("/controles/preuves/<int:proof_id>")
@roles(*Role.ALL)
def proof(proof_id):
    proof = get_in_lot(ControlProof, proof_id)
    try:
        return storage.send(proof.storage_key, proof.mimetype, proof.filename)
    except FileNotFoundError:
        abort(404)


def register(app):
    app.register_blueprint(bp)
    add_nav("Contrôles", "controls.index", Role.ALL, order=40)
    add_lot_link("Contrôles de service fait", "controls.lot_campaigns", Role.ALL, order=40)
    from fc_market.controls import jobs  # noqa: F401
