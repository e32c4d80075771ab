"""Flag cases screens: FC's list (filters by lot, category, status), the case page (readings,
thread, decisions), the mandataire's « Mes plans d'action ».

Access: every case is loaded through :func:`_case`, which refuses another lot's case to a
mandataire with a 404; the thread is read through ``service.visible_events`` (no FC
internal comment for a mandataire).
"""
import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from fc_market.access import get_in_lot, roles, visible_lots
from fc_market.auth.models import Role
from fc_market.cases import service
from fc_market.cases.forms import (AcknowledgeForm, CloseForm, FollowForm, MessageForm, OpenForm,
                                   PlanForm, RequestPlanForm)
from fc_market.cases.models import CASE_LABELS, CaseFile, CaseStatus, FlagCase
from fc_market.cases.service import CaseError
from fc_market.extensions import db
from fc_market.market.models import FlagRule
from fc_market.reporting.service import paris_today
from fc_market.steering.models import Flag
from fc_market.steering.service import format_value
from fc_market.storage import send

bp = Blueprint("cases", __name__, url_prefix="/dossiers")
DECIDERS = (Role.MANAGER,)


def _case(case_id):
    return get_in_lot(FlagCase, case_id)


def _counter(form):
    raw = (form.counter.data or "") if hasattr(form, "counter") else ""
    return int(raw) if raw.isdigit() else None


@bp.get("")
@roles(*Role.ALL)
def index():
    """FC: every case, filtered; a mandataire: its lot's cases (« Mes plans d'action »)."""
    lots = visible_lots()
    lot_code = request.args.get("lot") or None
    category = request.args.get("categorie") or None
    status = request.args.get("statut") or None
    lot_ids = [l.id for l in lots if lot_code is None or l.code == lot_code]
    stmt = service.cases_query(lot_ids, [status] if status in CASE_LABELS else None)
    if category:
        stmt = stmt.join(Flag, Flag.id == FlagCase.flag_id).join(FlagRule).where(
            FlagRule.category == category)
    cases = db.session.scalars(stmt.limit(500)).all()
    return render_template("cases/index.html", cases=cases, lots=lots, lot_code=lot_code,
                           lot_options=[(l.code, f"{l.code} — {l.name}") for l in lots],
                           category=category, status=status, labels=CASE_LABELS,
                           categories=FlagRule.CATEGORY_LABELS, today=paris_today())


@bp.get("/mes-plans-d-action")
@roles(Role.MANDATAIRE)
def mine():
    """« Mes plans d'action »: the cases FC opened on the mandataire's lot."""
    return index()


@bp.post("/ouvrir/<int:flag_id>")
@roles(*DECIDERS)
def open_case(flag_id):
    flag = get_in_lot(Flag, flag_id)
    form = OpenForm()
    if not form.validate_on_submit():
        abort(400)
    case = service.open_case(flag, current_user, form.comment.data)
    flash(f"Dossier n° {case.id} ouvert.", "success")
    return redirect(url_for("cases.case_page", case_id=case.id))


@bp.get("/<int:case_id>")
@roles(*Role.ALL)
def case_page(case_id):
    case = _case(case_id)
    flag = case.flag
    return render_template(
        "cases/case.html", case=case, flag=flag, events=service.visible_events(case, current_user),
        today=paris_today(), status=CaseStatus, fmt=format_value,
        acknowledge_form=_form(AcknowledgeForm, counter=case.version_counter),
        request_form=_form(RequestPlanForm, counter=case.version_counter),
        plan_form=_form(PlanForm, counter=case.version_counter),
        follow_form=_form(FollowForm, counter=case.version_counter),
        close_form=_form(CloseForm, counter=case.version_counter), message_form=_form(MessageForm))


#: One prefix per form of the case page, so field names and ids never collide
PREFIXES = {AcknowledgeForm: "ack", RequestPlanForm: "request", PlanForm: "plan",
            FollowForm: "follow", CloseForm: "close", MessageForm: "message"}


def _form(form_class, **data):
    return form_class(prefix=PREFIXES[form_class], **data)


def _act(case_id, form_class, action, *, success):
    case = _case(case_id)
    form = _form(form_class)
    if not form.validate_on_submit():
        errors = [e for field in form for e in field.errors]
        flash(" ".join(errors) or "Formulaire incomplet.", "error")
        return redirect(url_for("cases.case_page", case_id=case.id))
    try:
        action(case, form)
        flash(success, "success")
    except CaseError as exc:
        flash(exc.message, "error")
    return redirect(url_for("cases.case_page", case_id=case.id))


@bp.post("/<int:case_id>/prise-en-compte")
@roles(*DECIDERS)
def acknowledge(case_id):
    return _act(case_id, AcknowledgeForm, lambda c, f: service.acknowledge(
        c, current_user, f.comment.data, internal=f.internal.data, expected_counter=_counter(f)),
        success="Signalement pris en compte.")


@bp.post("/<int:case_id>/demande-de-plan")
@roles(*DECIDERS)
def request_plan(case_id):
    return _act(case_id, RequestPlanForm, lambda c, f: service.request_plan(
        c, current_user, f.body.data, f.due_on.data, paris_today(), expected_counter=_counter(f)),
        success="Plan d'action demandé ; le mandataire est notifié.")


@bp.post("/<int:case_id>/plan")
@roles(Role.MANDATAIRE)
def submit_plan(case_id):
    def action(case, form):
        files = [(f.read(), f.filename) for f in request.files.getlist(form.files.name)
                 if f and f.filename]
        service.submit_plan(case, current_user, form.body.data, files,
                            expected_counter=_counter(form))
    return _act(case_id, PlanForm, action, success="Plan d'action remis à France compétences.")


@bp.post("/<int:case_id>/suivi")
@roles(*DECIDERS)
def follow(case_id):
    return _act(case_id, FollowForm, lambda c, f: service.follow(
        c, current_user, f.comment.data, expected_counter=_counter(f)),
        success="Plan d'action retenu et suivi.")


@bp.post("/<int:case_id>/cloture")
@roles(*DECIDERS)
def close(case_id):
    return _act(case_id, CloseForm, lambda c, f: service.close(
        c, current_user, f.reason.data, f.comment.data, expected_counter=_counter(f)),
        success="Dossier clos.")


@bp.post("/<int:case_id>/message")
@roles(Role.MANAGER, Role.MANDATAIRE)
def message(case_id):
    return _act(case_id, MessageForm, lambda c, f: service.comment(
        c, current_user, f.body.data, internal=f.internal.data), success="Message enregistré.")


@bp.get("/fichiers/<int:file_id>")
@roles(*Role.ALL)
def file(file_id):
    row = db.session.get(CaseFile, file_id)
    if row is None:
        abort(404)
    _case(row.event.case_id)
    if row.event.internal and current_user.is_mandataire:
        abort(404)
    try:
        return send(row.storage_key, row.mimetype, row.name)
    except FileNotFoundError:
        abort(404)


def my_cases_panel():
    """For the mandataire's home page: its lot's open cases awaiting its action first."""
    if not (current_user.is_authenticated and current_user.is_mandataire):
        return {}
    cases = service.open_cases([current_user.lot_id])
    return {"my_cases": cases,
            "my_cases_waiting": sum(1 for c in cases if c.status == CaseStatus.PLAN_REQUESTED)}


def case_for_flag(flag):
    return service.case_of(flag) if current_user.is_fc else None


def open_cases_of(lot):
    """The lot scorecard's open cases (a mandataire sees its lot's: never an internal note)."""
    return service.open_cases([lot.id])


def pack_sheets(snap, flags):
    """The steering pack lists every case with its status."""
    from fc_market.exports import Column, Sheet
    cases = db.session.scalars(service.cases_query()).all()
    rows = [{"id": c.id, "lot": c.lot.code, "rule": c.flag.rule.code, "label": c.flag.rule.label,
             "category": c.flag.rule.category_label, "status": c.status_label,
             "opened": c.opened_at.date(), "due": c.plan_due_on,
             "late": c.days_overdue(snap.today), "closed": c.closed_at.date() if c.closed_at else None,
             "reason": c.close_label} for c in cases]
    return [Sheet("Dossiers de signalement", [
        Column("id", "N°", "int"), Column("lot", "Lot"), Column("rule", "Règle"),
        Column("label", "Signalement"), Column("category", "Catégorie"), Column("status", "Statut"),
        Column("opened", "Ouvert le", "date"), Column("due", "Échéance du plan", "date"),
        Column("late", "Jours de retard du plan", "int"), Column("closed", "Clos le", "date"),
        Column("reason", "Motif de clôture")], rows)]


def register(app):
    from fc_market import web
    from fc_market.steering import pack
    app.register_blueprint(bp)
    app.jinja_env.globals.update(case_for_flag=case_for_flag, open_cases_of=open_cases_of)
    if pack_sheets not in pack.EXTRA_SHEETS:
        pack.EXTRA_SHEETS.append(pack_sheets)
    app.context_processor(my_cases_panel)
    web.add_nav("Dossiers de signalement", "cases.index", Role.FC, order=13)
    from fc_market.cases import service as _service  # noqa: F401  (case_plan_days_late reading)
    web.add_nav("Mes plans d'action", "cases.mine", (Role.MANDATAIRE,), order=13)


__all__ = ["bp", "register", "sa"]
