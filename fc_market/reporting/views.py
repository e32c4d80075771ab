"""Reporting screens: the lot's periods, upload and web form, versions, FC review, alerts."""
from io import BytesIO

import sqlalchemy as sa
from flask import (Blueprint, abort, flash, redirect, render_template, request, send_file,
                   url_for)
from flask_login import current_user

from fc_market import unit_of_work
from fc_market.access import get_in_lot, lot_by_code, roles, visible_lots
from fc_market.auth.models import Role
from fc_market.exports import XLSX_MIMETYPE, xlsx_response
from fc_market.extensions import db
from fc_market.market.models import Lot
from fc_market.market.terms import lot_terms
from fc_market.reporting import dictionary as dd
from fc_market.reporting import exporting, refused, review, service, tables
from fc_market.reporting.checks import Rules
from fc_market.reporting.forms import ActForm, AlertForm, DecisionForm, FiguresForm, UploadForm
from fc_market.reporting.models import (Act, AlertStatus, DoubleFinancingAlert, ReportImport,
                                        ReportVersion, VersionStatus)
from fc_market.reporting.workbook import build_template
from fc_market.storage import safe_name
from fc_market.urlargs import page_arg

bp = Blueprint("reporting", __name__)
ACTS_PER_PAGE = 100
REVIEWERS = (Role.MANAGER,)


def _today():
    return service.paris_today()


def _period(lot, period):
    try:
        service.check_period(lot, period)
    except ValueError:
        abort(404)
    return period


def _version(version_id):
    return get_in_lot(ReportVersion, version_id)


@bp.get("/reporting")
@roles(*Role.ALL)
def home():
    if current_user.is_mandataire:
        return redirect(url_for("reporting.lot_reporting", code=current_user.lot.code))
    return redirect(url_for("reporting.review_list"))


# -- a lot's periods ---------------------------------------------------------------------------

@bp.get("/lots/<code>/reporting")
@roles(*Role.ALL)
def lot_reporting(code):
    lot = lot_by_code(code)
    rows = review.lot_periods(lot, _today())
    return render_template("reporting/lot.html", lot=lot, rows=rows,
                           terms=lot_terms(lot, _today()) if lot.contract else None,
                           today=_today())


@bp.get("/lots/<code>/reporting.xlsx")
@roles(*Role.ALL)
def lot_reporting_export(code):
    lot = lot_by_code(code)
    rows = review.lot_periods(lot, _today())
    return xlsx_response(f"reporting-{lot.code}.xlsx", [exporting.periods_sheet(lot, rows)])


@bp.get("/lots/<code>/reporting/<period>")
@roles(*Role.ALL)
def period_page(code, period):
    lot = lot_by_code(code)
    _period(lot, period)
    report = service.find_report(lot, period)
    versions = service.versions_of(report) if report else []
    imports = db.session.scalars(sa.select(ReportImport).where(
        ReportImport.lot_id == lot.id, ReportImport.period == period)
        .order_by(ReportImport.id.desc()).limit(10)).all()
    draft = next((v for v in versions if v.status == VersionStatus.DRAFT), None)
    pending = next((v for v in versions if v.status == VersionStatus.SUBMITTED), None)
    return render_template("reporting/period.html", lot=lot, period=period, report=report,
                           versions=versions, imports=imports, draft=draft, pending=pending,
                           due_on=report.due_on if report else service.deadline(lot, period),
                           upload=UploadForm(), today=_today())


@bp.get("/lots/<code>/reporting/<period>.xlsx")
@roles(*Role.ALL)
def period_export(code, period):
    lot = lot_by_code(code)
    _period(lot, period)
    report = service.find_report(lot, period)
    imports = db.session.scalars(sa.select(ReportImport).where(
        ReportImport.lot_id == lot.id, ReportImport.period == period)
        .order_by(ReportImport.id.desc())).all()
    return xlsx_response(f"reporting-{lot.code}-{period}-versions.xlsx",
                         [exporting.history_sheet(service.versions_of(report) if report else []),
                          exporting.imports_sheet(imports)])


@bp.get("/lots/<code>/reporting/<period>/modele.xlsx")
@roles(*Role.ALL)
def template(code, period):
    lot = lot_by_code(code)
    _period(lot, period)
    data = build_template(lot, period, Rules.load(lot, period), service.deadline(lot, period))
    return send_file(BytesIO(data), mimetype=XLSX_MIMETYPE, as_attachment=True,
                     download_name=f"reporting-{lot.code}-{period}.xlsx")


@bp.post("/lots/<code>/reporting/<period>/depot")
@roles(Role.MANDATAIRE)
def upload(code, period):
    lot = lot_by_code(code)
    _period(lot, period)
    form = UploadForm()
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for error in errors:
                flash(error, "error")
        return redirect(url_for("reporting.period_page", code=lot.code, period=period))
    storage = form.file.data
    data = storage.read()
    result = service.import_file(lot, period, data, user=current_user,
                                 file_name=safe_name(storage.filename), channel="web")
    if result.accepted:
        flash(f"Fichier accepté : {result.act_count} acte(s) enregistré(s) dans le brouillon "
              f"(version {result.version_number}), {result.warning_count} avertissement(s). "
              "Vérifiez puis déposez le rapport.", "success")
    # a refused file: the import page itself says so, with every error
    return redirect(url_for("reporting.import_page", report_import_id=result.import_id))


@bp.post("/lots/<code>/reporting/<period>/nouvelle-version")
@roles(Role.MANDATAIRE)
def new_version(code, period):
    lot = lot_by_code(code)
    _period(lot, period)
    try:
        report = service.get_or_create_report(lot, period)
        draft = service.new_correction(report, current_user)
    except service.ReportingError as exc:
        flash(exc.message, "error")
        return redirect(url_for("reporting.period_page", code=lot.code, period=period))
    return redirect(url_for("reporting.version_page", version_id=draft.id))


# -- imports -----------------------------------------------------------------------------------

@bp.get("/reporting/imports/<int:report_import_id>")
@roles(*Role.ALL)
def import_page(report_import_id):
    entry = get_in_lot(ReportImport, report_import_id)
    can_upload = current_user.is_mandataire and not entry.accepted  # offer the upload again
    return render_template("reporting/import.html", entry=entry, lot=entry.lot,
                           error_groups=refused.group_issues(entry.errors),
                           warning_groups=refused.group_issues(entry.warnings),
                           refused_count=len(refused.refused_rows(entry.errors)[1]),
                           upload=UploadForm() if can_upload else None)


@bp.get("/reporting/imports/<int:report_import_id>/lignes-refusees.xlsx")
@roles(*Role.ALL)
def refused_rows_export(report_import_id):
    """The refused rows as they were in the file, with an error column."""
    entry = get_in_lot(ReportImport, report_import_id)
    return xlsx_response(f"lignes-refusees-{entry.lot.code}-{entry.period}-{entry.id}.xlsx",
                         [refused.refused_rows_sheet(entry.errors),
                          refused.groups_sheet("Erreurs par type", entry.errors or [])])


@bp.get("/reporting/imports/<int:report_import_id>.xlsx")
@roles(*Role.ALL)
def import_export(report_import_id):
    entry = get_in_lot(ReportImport, report_import_id)
    return xlsx_response(f"controle-{entry.lot.code}-{entry.period}-{entry.id}.xlsx",
                         [exporting.issues_sheet("Erreurs", entry.errors or []),
                          exporting.issues_sheet("Avertissements", entry.warnings or []),
                          refused.groups_sheet("Erreurs par type", entry.errors or []),
                          refused.groups_sheet("Avertissements par type", entry.warnings or [])])


# -- a version ---------------------------------------------------------------------------------

@bp.get("/reporting/versions/<int:version_id>")
@roles(*Role.ALL)
def version_page(version_id):
    version = _version(version_id)
    report = version.report
    lot = db.session.get(Lot, version.lot_id)
    page = page_arg()
    acts = db.session.scalars(sa.select(Act).where(Act.version_id == version.id)
                              .order_by(Act.source_row, Act.id)
                              .limit(ACTS_PER_PAGE + 1).offset((page - 1) * ACTS_PER_PAGE)).all()
    breakdown = review.version_breakdown(version)
    context = {}
    if current_user.is_fc:
        context = _review_context(version, lot, report, breakdown)
    return render_template("reporting/version.html", version=version, report=report, lot=lot,
                           acts=acts[:ACTS_PER_PAGE], page=page,
                           has_next=len(acts) > ACTS_PER_PAGE, breakdown=breakdown,
                           units=review.beneficiary_units(lot.market_id),
                           versions=service.versions_of(report), dd=dd,
                           figures_form=FiguresForm(obj=version.figures) if version.is_editable else None,
                           decision_form=DecisionForm(counter=version.version_counter),
                           not_ended=None if service.period_ended(report.period, service.paris_today())
                           else service.not_ended_message(report.period),
                           **context)


def _review_context(version, lot, report, breakdown):
    history = review.lot_history(lot, report.period)
    national_rows, national = review.national_picture(report.period, lot.market_id)
    from fc_market.reporting.review import _figure_rates
    rates = _figure_rates(version.figures)
    notes, flagged = review.anomalies(version, breakdown, history, national, rates)
    return {"history": history, "national_rows": national_rows, "national": national,
            "anomalies": notes, "flagged": flagged, "rates": rates,
            "open_alerts": review.open_alerts_for(version)}


@bp.get("/reporting/versions/<int:version_id>.xlsx")
@roles(*Role.ALL)
def version_export(version_id):
    version = _version(version_id)
    report = version.report
    lot = db.session.get(Lot, version.lot_id)
    sheets = exporting.version_sheets(version)
    if current_user.is_fc:
        context = _review_context(version, lot, report, review.version_breakdown(version))
        units = [u.code for u in review.beneficiary_units(lot.market_id)]
        sheets += exporting.review_sheets(context, units)
    return xlsx_response(f"reporting-{lot.code}-{report.period}-v{version.number}.xlsx", sheets)


@bp.route("/reporting/versions/<int:version_id>/acte", methods=["GET", "POST"])
@roles(Role.MANDATAIRE)
def add_act(version_id):
    version = _version(version_id)
    return _act_form(version, None)


@bp.route("/reporting/actes/<int:act_id>/modifier", methods=["GET", "POST"])
@roles(Role.MANDATAIRE)
def edit_act(act_id):
    act = get_in_lot(Act, act_id)
    return _act_form(db.session.get(ReportVersion, act.version_id), act)


def _act_form(version, act):
    if not version.is_editable:
        flash("Cette version n'est plus modifiable : créez une version corrective.", "error")
        return redirect(url_for("reporting.version_page", version_id=version.id))
    lot = db.session.get(Lot, version.lot_id)
    rules = Rules.load(lot, version.report.period)
    form = ActForm(obj=_act_values(act) if act is not None and request.method == "GET" else None)
    form.setup(rules)
    problems = []
    if form.validate_on_submit():
        try:
            problems = service.add_act(version, form.values(), current_user, replace=act)
        except service.ReportingError as exc:
            problems = [exc.message]
        if not problems:
            flash("Acte enregistré dans le brouillon.", "success")
            return redirect(url_for("reporting.version_page", version_id=version.id))
        unit_of_work.doom("act refused: the form is shown again with its problems")
    return render_template("reporting/act_form.html", form=form, version=version, lot=lot,
                           act=act, problems=problems, rules=rules)


def _act_values(act):
    class Values:
        pass
    values = Values()
    for name, _, _ in dd.ACT_COLUMNS:
        setattr(values, name, getattr(act, name, None))
    values.uo_code = act.uo.code
    values.site_code = act.site.code if act.site else None
    return values


@bp.post("/reporting/actes/<int:act_id>/supprimer")
@roles(Role.MANDATAIRE)
def delete_act(act_id):
    act = get_in_lot(Act, act_id)
    version = db.session.get(ReportVersion, act.version_id)
    try:
        service.delete_act(version, act, current_user)
        flash("Acte supprimé du brouillon.", "success")
    except service.ReportingError as exc:
        flash(exc.message, "error")
    return redirect(url_for("reporting.version_page", version_id=version.id))


@bp.route("/reporting/versions/<int:version_id>/indicateurs", methods=["GET", "POST"])
@roles(Role.MANDATAIRE)
def figures(version_id):
    version = _version(version_id)
    if not version.is_editable:
        flash("Cette version n'est plus modifiable : créez une version corrective.", "error")
        return redirect(url_for("reporting.version_page", version_id=version.id))
    form = FiguresForm(obj=version.figures)
    if form.validate_on_submit():
        try:
            service.save_figures(version, {name: getattr(form, name).data
                                           for name in service.FIGURE_FIELDS}, current_user)
            flash("Indicateurs du lot enregistrés.", "success")
            return redirect(url_for("reporting.version_page", version_id=version.id))
        except service.ReportingError as exc:
            flash(exc.message, "error")
    return render_template("reporting/figures_form.html", form=form, version=version,
                           lot=db.session.get(Lot, version.lot_id))


@bp.post("/reporting/versions/<int:version_id>/deposer")
@roles(Role.MANDATAIRE)
def submit(version_id):
    version = _version(version_id)
    try:
        checker = service.submit(version, current_user)
    except service.ReportingError as exc:
        flash(exc.message, "error")
        return redirect(url_for("reporting.version_page", version_id=version_id))
    if checker.error_count:
        flash(f"Dépôt impossible : {checker.error_count} erreur(s) bloquante(s).", "error")
        return render_template("reporting/submit_errors.html", version=version,
                               errors=checker.errors[:500], count=checker.error_count,
                               lot=db.session.get(Lot, version.lot_id)), 422
    late = f" avec {version.days_late} jour(s) de retard" if version.days_late else ""
    flash(f"Rapport déposé{late} : France compétences va l'examiner.", "success")
    return redirect(url_for("reporting.version_page", version_id=version_id))


@bp.get("/reporting/versions/<int:version_id>/controle.xlsx")
@roles(*Role.ALL)
def check_export(version_id):
    """The blocking errors and warnings a draft would meet at submission (read only)."""
    version = _version(version_id)
    checker, _, _ = service.recheck(version)
    unit_of_work.doom("nothing to keep: the check only reads")
    return xlsx_response(f"controle-{version.report.lot.code}-{version.report.period}-v{version.number}.xlsx",
                         [exporting.issues_sheet("Erreurs bloquantes", [i.as_dict() for i in checker.errors]),
                          exporting.issues_sheet("Avertissements", [i.as_dict() for i in checker.warnings])])


@bp.post("/reporting/versions/<int:version_id>/decision")
@roles(*REVIEWERS)
def decide(version_id):
    version = _version(version_id)
    form = DecisionForm()
    if not form.validate_on_submit():
        flash("Choisissez valider ou rejeter.", "error")
        return redirect(url_for("reporting.version_page", version_id=version_id))
    try:
        counter = int(form.counter.data)
    except (TypeError, ValueError):
        abort(400)
    try:
        service.decide(version, current_user, form.decision.data, form.comment.data, counter)
    except service.Conflict as exc:
        return render_template("errors/error.html", code=409, title="Décision déjà prise",
                               message=exc.message), 409
    except service.ReportingError as exc:
        flash(exc.message, "error")
        return redirect(url_for("reporting.version_page", version_id=version_id))
    flash("Décision enregistrée ; le mandataire en est informé.", "success")
    return redirect(url_for("reporting.version_page", version_id=version_id))


# -- FC review ---------------------------------------------------------------------------------

@bp.get("/reporting/examen")
@roles(*Role.FC)
def review_list():
    lots = visible_lots()
    periods, matrix = review.review_matrix(lots, _today())
    page = tables.REVIEW_QUEUE.page(tables.review_base(), "reporting.review_list",
                                    export_endpoint="reporting.review_export")
    return render_template("reporting/review_list.html", page=page, lots=lots,
                           periods=periods, matrix=matrix, today=_today())


@bp.get("/reporting/examen.xlsx")
@roles(*Role.FC)
def review_export():
    lots = visible_lots()
    periods, matrix = review.review_matrix(lots, _today())
    return tables.REVIEW_QUEUE.export(tables.review_base(), "examen-reporting.xlsx",
                                      extra_sheets=[exporting.matrix_sheet(lots, periods, matrix)])


# -- double financing (FC only) ----------------------------------------------------------------

def _alerts_query():
    status = request.args.get("statut", AlertStatus.OPEN)
    stmt = sa.select(DoubleFinancingAlert).order_by(DoubleFinancingAlert.created_at.desc(),
                                                    DoubleFinancingAlert.id.desc())
    if status in AlertStatus.LABELS:
        stmt = stmt.where(DoubleFinancingAlert.status == status)
    lot_code = request.args.get("lot")
    if lot_code:
        lot = db.session.scalar(sa.select(Lot).where(Lot.code == lot_code))
        if lot is not None:
            stmt = stmt.where(sa.or_(DoubleFinancingAlert.lot_id == lot.id,
                                     DoubleFinancingAlert.other_lot_id == lot.id))
    return stmt, status


@bp.get("/reporting/alertes")
@roles(*Role.FC)
def alerts():
    stmt, status = _alerts_query()
    page = page_arg()
    rows = db.session.scalars(stmt.limit(101).offset((page - 1) * 100)).all()
    return render_template("reporting/alerts.html", rows=rows[:100], page=page,
                           has_next=len(rows) > 100, status=status, labels=AlertStatus.LABELS,
                           lots=visible_lots(), lot_code=request.args.get("lot", ""))


@bp.get("/reporting/alertes.xlsx")
@roles(*Role.FC)
def alerts_export():
    stmt, _ = _alerts_query()
    return xlsx_response("alertes-double-financement.xlsx",
                         [exporting.alerts_sheet(db.session.scalars(stmt).all())])


@bp.get("/reporting/alertes/<int:alert_id>")
@roles(*Role.FC)
def alert_page(alert_id):
    alert = db.session.get(DoubleFinancingAlert, alert_id) or abort(404)
    return render_template("reporting/alert.html", alert=alert,
                           form=AlertForm(counter=alert.version_counter, status=alert.status,
                                          comment=alert.comment))


@bp.post("/reporting/alertes/<int:alert_id>/decision")
@roles(*REVIEWERS)
def alert_decide(alert_id):
    alert = db.session.get(DoubleFinancingAlert, alert_id) or abort(404)
    form = AlertForm()
    if not form.validate_on_submit():
        flash("Choisissez une décision.", "error")
        return redirect(url_for("reporting.alert_page", alert_id=alert_id))
    try:
        service.decide_alert(alert, current_user, form.status.data, form.comment.data,
                             int(form.counter.data))
    except service.Conflict as exc:
        return render_template("errors/error.html", code=409, title="Alerte déjà traitée",
                               message=exc.message), 409
    except (service.ReportingError, ValueError) as exc:
        flash(getattr(exc, "message", "Décision invalide."), "error")
        return redirect(url_for("reporting.alert_page", alert_id=alert_id))
    flash("Décision enregistrée.", "success")
    return redirect(url_for("reporting.alerts"))


def register(app):
    from fc_market import web
    from fc_market.web import add_lot_link, add_nav
    app.register_blueprint(bp)
    web.HOME[Role.MANDATAIRE] = "reporting.lot_reporting"  # a mandataire lands on its reporting
    add_nav("Reporting", "reporting.home", Role.ALL, order=30)
    add_nav("Double financement", "reporting.alerts", Role.FC, order=35)
    add_lot_link("Reporting", "reporting.lot_reporting", Role.ALL, order=10)

