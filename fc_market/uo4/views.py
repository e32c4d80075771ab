"""UO4 screens: the lot's plans and statements (form, Excel, documents), FC's review and
thread, the national overview.
"""
from io import BytesIO

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, send_file, url_for
from flask import Blueprint
from flask_login import current_user

from fc_market import unit_of_work
from fc_market.access import get_in_lot, lot_by_code, roles, visible_lots
from fc_market.auth.models import Role
from fc_market.exports import XLSX_MIMETYPE, Column, Sheet, xlsx_response
from fc_market.extensions import db
from fc_market.market.models import Lot
from fc_market.reporting.service import paris_today
from fc_market.storage import send
from fc_market.uo4 import service
from fc_market.uo4.forms import AnswerForm, DecisionForm, DocumentForm, EmptyForm, UploadForm
from fc_market.uo4.models import KIND_LABELS, UNDER_REVIEW, FilingKind, Uo4Document, Uo4Version
from fc_market.uo4.service import LINE_FIELDS, Uo4Error

bp = Blueprint("uo4", __name__, url_prefix="/uo4")
#: URL slug of each kind (French screens)
SLUGS = {"plan": FilingKind.PLAN, "bilan": FilingKind.STATEMENT}
SLUG_OF = {kind: slug for slug, kind in SLUGS.items()}
#: Blank rows offered under the lines already typed in the web form
BLANK_ROWS = 5
SUBMITTERS = (Role.MANDATAIRE,)
REVIEWERS = (Role.MANAGER,)


def _kind(slug):
    if slug not in SLUGS:
        abort(404)
    return SLUGS[slug]


def _filing(lot, year, slug, create=False):
    kind = _kind(slug)
    try:
        service.check_year(lot, year)
    except Uo4Error:
        abort(404)
    if create:
        return service.get_or_create_filing(lot, year, kind)
    return service.find_filing(lot, year, kind)


def _version(uo4_version_id):
    return get_in_lot(Uo4Version, uo4_version_id)


def _years(lot):
    return sorted(service.contract_years(lot), reverse=True)


@bp.get("")
@roles(*Role.FC)
def overview():
    """Every lot: planned, paid and documented for the current and the previous year."""
    lots = visible_lots()
    today = paris_today()
    years = [today.year - 1, today.year]
    data = service.summaries(lots, years)
    pending = db.session.scalars(sa.select(Uo4Version).where(Uo4Version.status.in_(list(UNDER_REVIEW)))
                                 .order_by(Uo4Version.submitted_at)).all()
    return render_template("uo4/overview.html", lots=lots, years=years, data=data,
                           pending=pending, kinds=KIND_LABELS, slug_of=SLUG_OF)


@bp.get("/export.xlsx")
@roles(*Role.FC)
def overview_export():
    lots = visible_lots()
    today = paris_today()
    years = list(range(today.year - 3, today.year + 1))
    return xlsx_response("uo4.xlsx", [uo4_sheet(service.summaries(lots, years))])


def uo4_sheet(data, title="UO4"):
    """Planned, paid and documented per lot, year and category (also in the steering pack)."""
    rows = []
    for (lot_id, year), s in sorted(data.items(), key=lambda kv: (kv[1].lot.number, kv[0][1])):
        rows.append({"lot": s.lot.code, "year": year, "category": "Total", "planned": s.planned,
                     "paid": s.paid, "documented": s.documented, "share": s.documented_share,
                     "plan": s.plan.status_label if s.plan else "non déposé",
                     "statement": s.statement.status_label if s.statement else "non déposé"})
        for code, label, planned, documented in s.categories:
            rows.append({"lot": s.lot.code, "year": year, "category": label, "planned": planned,
                         "documented": documented})
    return Sheet(title, [Column("lot", "Lot"), Column("year", "Année", "int"),
                         Column("category", "Catégorie"), Column("planned", "Prévu", "decimal"),
                         Column("paid", "Payé (états certifiés)", "decimal"),
                         Column("documented", "Justifié", "decimal"),
                         Column("share", "Justifié / payé", "percent"),
                         Column("plan", "Plan"), Column("statement", "Bilan")], rows)


@bp.get("/lots/<code>")
@roles(*Role.ALL)
def lot_page(code):
    lot = lot_by_code(code)
    years = _years(lot)
    data = service.summaries([lot], years)
    filings = {(f.year, f.kind): f for f in service.filings_of(lot)}
    return render_template("uo4/lot.html", lot=lot, years=years, data=data, filings=filings,
                           kinds=KIND_LABELS, slug_of=SLUG_OF, today=paris_today(),
                           terms=service.terms_of(lot), form=UploadForm())


@bp.get("/lots/<code>/<int:year>/<slug>/modele.xlsx")
@roles(*Role.ALL)
def template(code, year, slug):
    from fc_market.uo4.workbook import build_template
    lot = lot_by_code(code)
    kind = _kind(slug)
    _filing(lot, year, slug)
    data = build_template(lot, year, kind)
    return send_file(BytesIO(data), mimetype=XLSX_MIMETYPE, as_attachment=True,
                     download_name=f"uo4-{slug}-{lot.code}-{year}.xlsx")


@bp.post("/lots/<code>/<int:year>/<slug>/import")
@roles(*SUBMITTERS)
def upload(code, year, slug):
    lot = lot_by_code(code)
    kind = _kind(slug)
    _filing(lot, year, slug)
    form = UploadForm()
    if not form.validate_on_submit():
        flash("Choisissez un fichier .xlsx.", "error")
        return redirect(url_for("uo4.lot_page", code=lot.code))
    upload = form.file.data
    data = upload.read()
    result = service.import_file(lot, year, kind, data, user=current_user,
                                 file_name=upload.filename)
    if not result.accepted:
        return render_template("uo4/refused.html", lot=lot, year=year, kind=kind,
                               result=result, file_name=upload.filename), 422
    flash(f"Fichier accepté : {len(result.version.lines)} ligne(s) enregistrée(s) dans la "
          f"version {result.version.number} (brouillon). Vérifiez puis déposez.", "success")
    return redirect(url_for("uo4.version_page", uo4_version_id=result.version.id))


def _form_rows(form_data, count):
    rows = []
    letters = {name: header for name, header in LINE_FIELDS}
    for n in range(1, count + 1):
        values = {name: (form_data.get(f"{name}-{n}") or "").strip() for name, _ in LINE_FIELDS}
        if not any(values.values()):
            continue
        rows.append((n, values, letters))
    return rows


@bp.route("/lots/<code>/<int:year>/<slug>/saisie", methods=["GET", "POST"])
@roles(*SUBMITTERS)
def edit(code, year, slug):
    lot = lot_by_code(code)
    kind = _kind(slug)
    filing = _filing(lot, year, slug)
    draft = service.current_draft(filing) if filing else None
    terms = service.terms_of(lot)
    members = service.members_of(lot)
    form = EmptyForm()
    issues = None
    if draft is not None:
        values = [{"category": l.category, "member": l.member.siret, "amount": f"{l.amount}",
                   "description": l.description or ""} for l in draft.lines]
    else:
        values = []
    if request.method == "POST" and form.validate_on_submit():
        count = min(request.form.get("rows", type=int) or 0, 500)
        rows = _form_rows(request.form, count)
        try:
            filing = _filing(lot, year, slug, create=True)
            draft, found = service.save_lines(filing, rows, current_user, source="web")
        except Uo4Error as exc:
            flash(exc.message, "error")
            return redirect(url_for("uo4.lot_page", code=lot.code))
        if draft is not None:
            flash(f"{len(draft.lines)} ligne(s) enregistrée(s) (version {draft.number}, brouillon).",
                  "success")
            return redirect(url_for("uo4.version_page", uo4_version_id=draft.id))
        unit_of_work.doom("uo4 lines refused: the form is shown again with its problems")
        issues = found.errors
        values = [row for _, row, _ in rows]
    values += [{}] * BLANK_ROWS
    return render_template("uo4/edit.html", lot=lot, year=year, kind=kind, slug=slug, form=form,
                           terms=terms, members=members, values=values, issues=issues,
                           kinds=KIND_LABELS), (422 if issues else 200)


@bp.get("/versions/<int:uo4_version_id>")
@roles(*Role.ALL)
def version_page(uo4_version_id):
    version = _version(uo4_version_id)
    filing = version.filing
    lot = db.session.get(Lot, version.lot_id)
    terms = service.terms_of(lot)
    decision = DecisionForm(counter=version.version_counter)
    document_form = DocumentForm()
    document_form.category.choices = [("", "—")] + list(terms.categories)
    blocking = service.submission_issues(version).errors if version.is_editable else []
    return render_template("uo4/version.html", version=version, filing=filing, lot=lot,
                           terms=terms, labels=terms.labels, names=service.member_names(lot),
                           decision_form=decision, document_form=document_form,
                           answer_form=AnswerForm(), form=EmptyForm(), blocking=blocking,
                           slug=SLUG_OF[FilingKind(filing.kind)], under_review=UNDER_REVIEW,
                           versions=service.versions_of(filing))


@bp.post("/versions/<int:uo4_version_id>/justificatifs")
@roles(*SUBMITTERS)
def add_document(uo4_version_id):
    version = _version(uo4_version_id)
    lot = db.session.get(Lot, version.lot_id)
    form = DocumentForm()
    form.category.choices = [("", "—")] + list(service.terms_of(lot).categories)
    if not form.validate_on_submit():
        flash("Choisissez la catégorie et le fichier.", "error")
        return redirect(url_for("uo4.version_page", uo4_version_id=version.id))
    upload = form.file.data
    try:
        service.add_document(version, form.category.data, upload.read(), upload.filename,
                             current_user)
        flash("Justificatif joint.", "success")
    except Uo4Error as exc:
        flash(exc.message, "error")
    return redirect(url_for("uo4.version_page", uo4_version_id=version.id))


@bp.post("/versions/<int:uo4_version_id>/justificatifs/retirer")
@roles(*SUBMITTERS)
def remove_document(uo4_version_id):
    version = _version(uo4_version_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    doc_id = request.form.get("document", type=int)
    doc = next((d for d in version.documents if d.id == doc_id), None)
    if doc is None:
        flash("Justificatif introuvable dans cette version.", "error")
        return redirect(url_for("uo4.version_page", uo4_version_id=version.id))
    try:
        service.remove_document(version, doc, current_user)
        flash("Justificatif retiré.", "success")
    except Uo4Error as exc:
        flash(exc.message, "error")
    return redirect(url_for("uo4.version_page", uo4_version_id=version.id))


@bp.get("/justificatifs/<int:uo4_document_id>")
@roles(*Role.ALL)
def document(uo4_document_id):
    doc = db.session.get(Uo4Document, uo4_document_id)
    if doc is None:
        abort(404)
    _version(doc.version_id)
    try:
        return send(doc.storage_key, doc.mimetype, doc.name)
    except FileNotFoundError:
        abort(404)


@bp.post("/versions/<int:uo4_version_id>/deposer")
@roles(*SUBMITTERS)
def submit(uo4_version_id):
    version = _version(uo4_version_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        issues = service.submit(version, current_user)
    except Uo4Error as exc:
        flash(exc.message, "error")
        return redirect(url_for("uo4.version_page", uo4_version_id=version.id))
    if issues.error_count:
        flash("Dépôt impossible : " + " ".join(i.message for i in issues.errors), "error")
        return redirect(url_for("uo4.version_page", uo4_version_id=version.id))
    flash("Version déposée : France compétences en est informée.", "success")
    return redirect(url_for("uo4.version_page", uo4_version_id=version.id))


def _version_form(uo4_version_id, form_class, missing, act, done):
    """One of the version page's forms: checked (else ``missing`` is flashed), then
    ``act(version, form)``, then back to the version with ``done``, or the refusal
    (:class:`Uo4Error`) flashed, nothing written."""
    version = _version(uo4_version_id)
    form = form_class()
    if not form.validate_on_submit():
        flash(missing, "error")
    else:
        try:
            act(version, form)
            flash(done, "success")
        except Uo4Error as exc:
            flash(exc.message, "error")
    return redirect(url_for("uo4.version_page", uo4_version_id=version.id))


@bp.post("/versions/<int:uo4_version_id>/decision")
@roles(*REVIEWERS)
def decide(uo4_version_id):
    return _version_form(
        uo4_version_id, DecisionForm, "Choisissez une décision.",
        lambda version, form: service.decide(
            version, current_user, form.decision.data, form.comment.data,
            int(form.counter.data) if form.counter.data.isdigit() else None),
        "Décision enregistrée ; le mandataire est notifié.")


@bp.post("/versions/<int:uo4_version_id>/reponse")
@roles(*SUBMITTERS)
def answer(uo4_version_id):
    return _version_form(
        uo4_version_id, AnswerForm, "Écrivez votre réponse.",
        lambda version, form: service.answer(version, current_user, form.body.data),
        "Réponse envoyée à France compétences.")


@bp.post("/lots/<code>/<int:year>/<slug>/nouvelle-version")
@roles(*SUBMITTERS)
def new_version(code, year, slug):
    lot = lot_by_code(code)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        filing = _filing(lot, year, slug, create=True)
        draft = service.open_draft(filing, current_user)
    except Uo4Error as exc:
        flash(exc.message, "error")
        return redirect(url_for("uo4.lot_page", code=lot.code))
    return redirect(url_for("uo4.version_page", uo4_version_id=draft.id))


def scorecard_years(lot, count=3):
    """The lot scorecard's UO4 section: the last ``count`` contract years up to this one."""
    if service.uo4_terms(lot) is None:
        return []
    today = paris_today()
    years = [y for y in _years(lot) if y <= today.year][:count]
    data = service.summaries([lot], years)
    return [data[(lot.id, y)] for y in years if (lot.id, y) in data]


def dashboard_tile():
    """National dashboard tile: last year's UO4 documented against paid, and how many lots
    still owe their statement after its deadline."""
    from types import SimpleNamespace
    from fc_market.uo4.readings import statement_lateness
    lots = visible_lots()
    year = paris_today().year - 1
    data = service.summaries(lots, [year])
    if not data:
        return None
    paid = sum((s.paid for s in data.values()), service.Decimal("0"))
    documented = sum((s.documented for s in data.values()), service.Decimal("0"))
    late = statement_lateness(lots, paris_today())
    return SimpleNamespace(year=year, paid=paid, documented=documented,
                           share=float(documented / paid) if paid else None,
                           missing=sum(1 for r in late.values() if r.value))


def pack_sheets(snap, flags):
    years = list(range(snap.year - 1, snap.year + 1))
    return [uo4_sheet(service.summaries(snap.lots, years), "UO4 prévu payé justifié")]


def register(app):
    from fc_market import web
    from fc_market.steering import pack
    from fc_market.uo4 import readings  # noqa: F401  (UO4 indicators for steering's flags)
    app.register_blueprint(bp)
    app.jinja_env.globals.update(uo4_scorecard=scorecard_years, uo4_tile=dashboard_tile)
    if pack_sheets not in pack.EXTRA_SHEETS:
        pack.EXTRA_SHEETS.append(pack_sheets)
    web.add_nav("UO4", "uo4.overview", Role.FC, order=14)
    web.add_lot_link("UO4 : plan et bilan", "uo4.lot_page", Role.ALL, order=40)


__all__ = ["bp", "register"]
