"""Sites screens: list, map and coverage of a lot, requests and FC decisions, import, exports."""
import threading
from collections import OrderedDict
from datetime import date

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from fc_market.access import get_in_lot, lot_by_code, roles, visible_lots
from fc_market.auth.models import Role
from fc_market.exports import Column, Sheet, xlsx_response
from fc_market.territory import importer, service, svgmap, tables
from fc_market.territory.forms import CloseForm, DecisionForm, EmptyForm, ImportForm, SiteForm
from fc_market.territory.loader import load_localities, load_outlines
from fc_market.territory.models import SITE_KINDS, WEEKDAYS, ChangeStatus, Site, SiteChange

bp = Blueprint("territory", __name__)
PROPOSERS = (Role.MANDATAIRE, Role.MANAGER)
ZONES_SHOWN = 30


def _mode():
    mode = request.args.get("mode", "permanent")
    return mode if mode in service.COVERAGE_MODES else "permanent"


def _site(lot, site_id):
    site = get_in_lot(Site, site_id)
    if site.lot_id != lot.id:
        abort(404)
    return site


def _change(lot, change_id):
    change = get_in_lot(SiteChange, change_id)
    if change.lot_id != lot.id:
        abort(404)
    return change


#: SVG maps of lots already drawn by this process, by everything a map is drawn from (see
#: :func:`lot_map`); a scorecard read drew the same map again on every request
_MAPS = OrderedDict()
_MAPS_SIZE = 64
_MAPS_LOCK = threading.Lock()


def lot_map(cov, mode="permanent", sites=None, result=None, id_prefix="lotmap"):
    if sites is not None or result is not None:  # a what-if map: drawn each time
        return _draw_lot_map(cov, mode, sites, result, id_prefix)
    geo_sites = tuple(service._geo_site(s) for s in cov.sites)
    # the map is a function of these alone: the region's communes and outlines are the
    # process's reference files, the coverage follows from the sites, kinds and radius
    key = (cov.lot.region_code, cov.lot.code, cov.lot.name, mode, id_prefix,
           str(cov.terms.radius), tuple(cov.kinds(mode)), geo_sites)
    with _MAPS_LOCK:
        svg = _MAPS.get(key)
        if svg is not None:
            _MAPS.move_to_end(key)
            return svg
    svg = _draw_lot_map(cov, mode, list(geo_sites), None, id_prefix)
    with _MAPS_LOCK:
        _MAPS[key] = svg
        while len(_MAPS) > _MAPS_SIZE:
            _MAPS.popitem(last=False)
    return svg


def _draw_lot_map(cov, mode, sites, result, id_prefix):
    return svgmap.render_lot_map(
        load_localities(cov.lot.region_code),
        sites if sites is not None else [service._geo_site(s) for s in cov.sites],
        title=f"Lot {cov.lot.code} — {cov.lot.name}", result=result or cov.mode(mode),
        radius_km=cov.terms.radius, coverage_kinds=cov.kinds(mode), id_prefix=id_prefix,
        outlines=load_outlines(), region_code=cov.lot.region_code)


# --------------------------------------------------------------------------- national

#: Indicators the national map can be coloured by: key -> (label, steering indicator or None)
MAP_INDICATORS = {
    "couverture": ("Couverture (règle du contrat)", None),
    "entrees": ("Entrées pour 1 000 habitants (12 mois)", "entries_per_1000"),
    "objectif": ("Réalisation de l'objectif proratisé", "target_achievement"),
}


def national_map(lots, covs, key):
    """The SVG map of the lots coloured by the chosen indicator (server-side, no script)."""
    from fc_market.formatting import number, percent
    label, indicator = MAP_INDICATORS[key]
    if indicator is None:
        values = {lot.region_code: covs[lot.id].rule.share for lot in lots}
        fmt = percent
    else:
        from fc_market.steering import service as steering
        snap = steering.snapshot(lots)
        values = {lot.region_code: snap.views[lot.id].read(indicator).value for lot in lots}
        fmt = percent if indicator == "target_achievement" else (lambda v: number(v, 1))
    return svgmap.render_national_map(
        values, load_outlines(), title=f"Carte des lots : {label.lower()}", legend_title=label,
        fmt=fmt, names={lot.region_code: f"{lot.code} — {lot.name}" for lot in lots},
        links={lot.region_code: url_for("territory.lot_sites", code=lot.code) for lot in lots})


@bp.get("/maillage")
@roles(*Role.FC)
def national():
    lots = visible_lots()
    covs = service.all_coverage(lots)
    indicator = request.args.get("indicateur", "couverture")
    if indicator not in MAP_INDICATORS:
        indicator = "couverture"
    pending = service.pending_counts()
    rows = [(lot, covs[lot.id], pending.get(lot.id, 0)) for lot in lots]
    totals = {m: (sum(c.mode(m).covered_population for _, c, _ in rows),
                  sum(c.mode(m).total_population for _, c, _ in rows))
              for m in service.COVERAGE_MODES}
    terms = sorted({c.terms for _, c, _ in rows}, key=lambda t: (t.radius_km, t.site_kinds))
    return render_template("territory/national.html", rows=rows, totals=totals, terms=terms,
                           map_svg=national_map(lots, covs, indicator), indicator=indicator,
                           indicators={k: v[0] for k, v in MAP_INDICATORS.items()},
                           changes=service.changes_of(status=ChangeStatus.PENDING),
                           attribution=service.ATTRIBUTION, today=date.today())


@bp.get("/maillage.xlsx")
@roles(*Role.FC)
def national_export():
    lots = visible_lots()
    covs = service.all_coverage(lots)
    rows = [{"lot": lot.code, "name": lot.name, "region": lot.region_code,
             **_cov_row(covs[lot.id])} for lot in lots]
    columns = [Column("lot", "Lot"), Column("name", "Région"),
               Column("region", "Code région INSEE")] + _cov_columns()
    return xlsx_response("maillage.xlsx", [
        Sheet("Maillage", columns, rows),
        changes_sheet(service.changes_of(status=ChangeStatus.PENDING), "Demandes en attente")])


def _cov_row(cov):
    p, w = cov.rule, cov.with_permanences
    return {"radius": cov.terms.radius, "kinds": cov.terms.kinds_label,
            "sites": sum(1 for s in cov.sites if s.kind == "permanent"),
            "permanences": sum(1 for s in cov.sites if s.kind == "permanence"),
            "itinerant": sum(1 for s in cov.sites if s.kind == "itinerant"),
            "total": p.total_population, "covered": p.covered_population, "share": p.share,
            "zones": p.uncovered_count, "covered_wp": w.covered_population, "share_wp": w.share,
            "zones_wp": w.uncovered_count}


def _cov_columns():
    return [Column("radius", "Rayon (km)"), Column("kinds", "Sites qui comptent"),
            Column("sites", "Sites permanents ouverts", "int"),
            Column("permanences", "Permanences ouvertes", "int"),
            Column("itinerant", "Points itinérants", "int"),
            Column("total", "Population (communes, INSEE)", "int"),
            Column("covered", "Population couverte (règle du contrat)", "int"),
            Column("share", "Part couverte", "percent"),
            Column("zones", "Communes non couvertes", "int"),
            Column("covered_wp", "Population couverte, permanences comprises", "int"),
            Column("share_wp", "Part couverte, permanences comprises", "percent"),
            Column("zones_wp", "Communes non couvertes, permanences comprises", "int")]


@bp.get("/demandes-sites")
@roles(*Role.FC)
def pending():
    return render_template("territory/pending.html",
                           changes=service.changes_of(status=ChangeStatus.PENDING))


def changes_sheet(changes, title="Demandes"):
    """The site requests as a sheet (the table of ``territory/_changes.html``)."""
    return Sheet(title, [
        Column("id", "N°", "int"), Column(lambda c: c.lot.code, "Lot", "text"),
        Column("action_label", "Demande", "text"),
        Column(lambda c: f"{c.proposed.get('code')} — {c.proposed.get('name')}", "Site", "text"),
        Column("created_at", "Déposée le (UTC)", "datetime"),
        Column(lambda c: c.created_by.full_name if c.created_by else None, "Par", "text"),
        Column(lambda c: "Import Excel" if c.source == "excel" else "Formulaire", "Origine", "text"),
        Column("status_label", "État", "text"), Column("decided_at", "Décidée le (UTC)", "datetime"),
        Column(lambda c: c.decided_by.full_name if c.decided_by else None, "Décidée par", "text"),
        Column("decision_comment", "Commentaire", "text")], changes)


@bp.get("/demandes-sites.xlsx")
@roles(*Role.FC)
def pending_export():
    return xlsx_response("demandes-sites.xlsx",
                         [changes_sheet(service.changes_of(status=ChangeStatus.PENDING))])


# --------------------------------------------------------------------------- one lot

@bp.get("/lots/<code>/sites")
@roles(*Role.ALL)
def lot_sites(code):
    lot = lot_by_code(code)
    mode = _mode()
    sites = service.lot_sites(lot)
    cov = service.lot_coverage(lot, sites=sites)
    result = cov.mode(mode)
    changes = service.changes_of(lot)
    sites_page = tables.SITES.page(sites, "territory.lot_sites", url_values={"code": lot.code},
                                   keep=("mode",))
    return render_template(
        "territory/lot_sites.html", lot=lot, sites=sites, sites_page=sites_page, cov=cov,
        mode=mode, result=result,
        modes=service.mode_labels(cov.terms), svg=lot_map(cov, mode),
        zones=service.zone_rows(result, ZONES_SHOWN),
        pending=[c for c in changes if c.is_pending],
        history=[c for c in changes if not c.is_pending][:30], today=cov.day,
        can_propose=current_user.role in PROPOSERS, attribution=service.ATTRIBUTION)


@bp.get("/lots/<code>/sites.xlsx")
@roles(*Role.ALL)
def sites_export(code):
    lot = lot_by_code(code)
    sites = service.lot_sites(lot)
    return xlsx_response(f"sites-{lot.code}.xlsx", [importer.sites_sheet(lot, sites),
                                                     changes_sheet(service.changes_of(lot))])


@bp.get("/lots/<code>/couverture.xlsx")
@roles(*Role.ALL)
def coverage_export(code):
    lot = lot_by_code(code)
    cov = service.lot_coverage(lot)
    sheets = []
    for mode, label in (("permanent", "contrat"), ("with_permanences", "avec permanences")):
        result = cov.mode(mode)
        deps = [{"dep": d.departement, "total": d.total_population, "covered": d.covered_population,
                 "share": d.share, "count": d.locality_count, "uncovered": d.uncovered_count}
                for d in result.by_departement.values()]
        sheets.append(Sheet(f"Départements ({label})", [
            Column("dep", "Département"), Column("total", "Population", "int"),
            Column("covered", "Population couverte", "int"), Column("share", "Part couverte", "percent"),
            Column("count", "Communes", "int"), Column("uncovered", "Communes non couvertes", "int")],
            deps))
        sheets.append(Sheet(f"Zones blanches ({label})", [
            Column("insee", "Code INSEE"), Column("name", "Commune"),
            Column("departement", "Département"), Column("population", "Population", "int"),
            Column("nearest_site_km", "Site le plus proche (km)")], service.zone_rows(result)))
    sheets.append(Sheet("Source", [Column("text", "Source des populations")],
                        [{"text": service.ATTRIBUTION}]))
    return xlsx_response(f"couverture-{lot.code}.xlsx", sheets)


def _site_form(lot, data=None):
    form = SiteForm(data=data)
    members = lot.operator.members if lot.operator else []
    form.member.choices = [("", "— non précisé —")] + [(str(m.id), m.legal_name) for m in members]
    form.lot_obj = lot
    return form


def _raw(form):
    raw = {name: form[name].data for name in ("code", "name", "kind", "address", "postcode",
                                                "commune", "departement", "latitude", "longitude",
                                                "opened_on", "closed_on")}
    insee = (form.insee.data or "").strip()
    if insee:  # the commune chosen in the list: its name, département and (unless adjusted) its point
        commune = service.locality_by_insee(form.lot_obj, insee)
        if commune is not None:
            raw["commune"] = commune.name
            raw["departement"] = raw["departement"] or commune.departement
            if not (raw["latitude"] or raw["longitude"]):
                raw["latitude"], raw["longitude"] = f"{commune.lat:.6f}", f"{commune.lon:.6f}"
    raw["member"] = form.member.data or None
    raw["disabled_access"] = bool(form.disabled_access.data)
    for day in WEEKDAYS:
        raw[day] = form[day].data
    return raw


def _show_errors(form, exc):
    for field, message in exc.errors:
        flash(f"{field} : {message}" if field else message, "error")


@bp.route("/lots/<code>/sites/nouveau", methods=["GET", "POST"])
@roles(*PROPOSERS)
def propose_open(code):
    lot = lot_by_code(code)
    form = _site_form(lot, None if request.method == "POST" else {"opened_on": date.today().isoformat()})
    if request.method == "POST" and form.validate_on_submit():
        try:
            change = service.propose_open(lot, _raw(form), current_user, reason=form.reason.data)
        except service.SiteError as exc:
            _show_errors(form, exc)
        else:
            flash("Demande d'ouverture enregistrée ; France compétences va l'examiner.", "success")
            return redirect(url_for(".change", code=lot.code, change_id=change.id))
    return render_template("territory/site_form.html", lot=lot, form=form, site=None,
                           terms=service.coverage_terms(lot),
                           weekdays=WEEKDAYS, title="Proposer un nouveau site")


@bp.get("/lots/<code>/sites/<int:site_id>")
@roles(*Role.ALL)
def site(code, site_id):
    lot = lot_by_code(code)
    site = _site(lot, site_id)
    return render_template("territory/site.html", lot=lot, site=site, weekdays=WEEKDAYS,
                           changes=service.changes_of(site=site), today=date.today(),
                           can_propose=current_user.role in PROPOSERS, labels=service.FIELD_LABELS)


@bp.get("/lots/<code>/sites/<int:site_id>.xlsx")
@roles(*Role.ALL)
def site_export(code, site_id):
    lot = lot_by_code(code)
    site = _site(lot, site_id)
    return xlsx_response(f"site-{lot.code}-{site.code}.xlsx",
                         [importer.sites_sheet(lot, [site]),
                          changes_sheet(service.changes_of(site=site), "Historique du site")])


@bp.route("/lots/<code>/sites/<int:site_id>/modifier", methods=["GET", "POST"])
@roles(*PROPOSERS)
def propose_update(code, site_id):
    lot = lot_by_code(code)
    site = _site(lot, site_id)
    values = service.site_values(site)
    data = service.raw_from_values(values)
    for key in ("opened_on", "closed_on"):
        data[key] = data[key] or ""  # ISO: the value of a date picker
    data["member"] = str(values["member_id"] or "")
    form = _site_form(lot, None if request.method == "POST" else data)
    if request.method == "POST" and form.validate_on_submit():
        try:
            change = service.propose_update(site, _raw(form), current_user, reason=form.reason.data)
        except service.SiteError as exc:
            _show_errors(form, exc)
        else:
            flash("Demande de modification enregistrée ; le site reste inchangé jusqu'à la décision "
                  "de France compétences.", "success")
            return redirect(url_for(".change", code=lot.code, change_id=change.id))
    return render_template("territory/site_form.html", lot=lot, form=form, site=site,
                           terms=service.coverage_terms(lot),
                           weekdays=WEEKDAYS, title=f"Proposer une modification du site {site.code}")


@bp.get("/lots/<code>/communes.json")
@roles(*PROPOSERS)
def communes(code):
    """The communes of the lot's region for the site form's commune picker."""
    from flask import jsonify
    lot = lot_by_code(code)
    response = jsonify(service.communes_of(lot))
    response.headers["Cache-Control"] = "private, max-age=86400"
    return response


@bp.route("/lots/<code>/sites/<int:site_id>/fermer", methods=["GET", "POST"])
@roles(*PROPOSERS)
def propose_close(code, site_id):
    lot = lot_by_code(code)
    site = _site(lot, site_id)
    form = CloseForm()
    if request.method == "POST" and form.validate_on_submit():
        try:
            change = service.propose_close(site, form.closed_on.data, current_user,
                                           reason=form.reason.data)
        except service.SiteError as exc:
            _show_errors(form, exc)
        else:
            flash("Demande de fermeture enregistrée.", "success")
            return redirect(url_for(".change", code=lot.code, change_id=change.id))
    return render_template("territory/close_form.html", lot=lot, site=site, form=form)


@bp.get("/lots/<code>/demandes/<int:change_id>")
@roles(*Role.ALL)
def change(code, change_id):
    lot = lot_by_code(code)
    change = _change(lot, change_id)
    what_if = svg = None
    if change.is_pending:
        what_if = service.change_what_if(change)
        cov = service.lot_coverage(lot)
        svg = lot_map(cov, "permanent", sites=service.what_if_sites(change),
                      result=what_if["permanent"].after, id_prefix="whatif")
    form = DecisionForm(counter=change.version_counter)
    members = {m.id: m.legal_name for m in (lot.operator.members if lot.operator else [])}
    return render_template("territory/change.html", lot=lot, change=change, what_if=what_if,
                           svg=svg, form=form, withdraw_form=EmptyForm(), labels=service.FIELD_LABELS,
                           fields=service.EDITABLE, members=members,
                           modes=service.mode_labels(service.coverage_terms(lot)),
                           terms=service.coverage_terms(lot),
                           kinds=SITE_KINDS, attribution=service.ATTRIBUTION,
                           as_date=date.fromisoformat)


def _field_text(name, value, members):
    if value is None or value == "":
        return None
    if name == "opening_hours":
        return "; ".join(f"{day} {hours}" for day, hours in value.items()) or None
    if name == "member_id":
        return members.get(value)
    if name == "kind":
        return SITE_KINDS.get(value, value)
    if name == "disabled_access":
        return "oui" if value else "non"
    if name in ("opened_on", "closed_on"):
        return date.fromisoformat(value).strftime("%d/%m/%Y")
    return str(value)


@bp.get("/lots/<code>/demandes/<int:change_id>.xlsx")
@roles(*Role.ALL)
def change_export(code, change_id):
    lot = lot_by_code(code)
    change = _change(lot, change_id)
    members = {m.id: m.legal_name for m in (lot.operator.members if lot.operator else [])}
    previous = change.previous or {}
    fields = [{"field": service.FIELD_LABELS[f],
               "before": _field_text(f, previous.get(f), members),
               "proposed": _field_text(f, change.proposed.get(f), members)}
              for f in service.EDITABLE]
    sheets = [changes_sheet([change], "Demande"),
              Sheet("Valeurs proposées", [Column("field", "Champ"), Column("before", "Avant la demande"),
                                          Column("proposed", "Proposé")], fields)]
    if change.is_pending:
        what_if = service.change_what_if(change)
        labels = service.mode_labels(service.coverage_terms(lot))
        sheets.append(Sheet("Effet sur la couverture", [
            Column(lambda r: labels[r[0]], "Comptage"),
            Column(lambda r: r[1].before.share, "Couverture actuelle", "percent"),
            Column(lambda r: r[1].after.share, "Après la demande", "percent"),
            Column(lambda r: r[1].population_gained, "Habitants gagnés", "int"),
            Column(lambda r: r[1].population_lost, "Habitants perdus", "int")], list(what_if.items())))
        w = what_if["permanent"]
        sheets.append(Sheet("Communes", [
            Column(lambda r: r[0], "Effet"), Column(lambda r: r[1].id, "Code INSEE"),
            Column(lambda r: r[1].name, "Commune"),
            Column(lambda r: r[1].departement, "Département"),
            Column(lambda r: r[1].population, "Population", "int")],
            [("couverte", loc) for loc in w.newly_covered] + [("plus couverte", loc) for loc in w.newly_uncovered]))
    return xlsx_response(f"demande-site-{lot.code}-{change.id}.xlsx", sheets)


@bp.post("/lots/<code>/demandes/<int:change_id>/decision")
@roles(Role.MANAGER)
def decide(code, change_id):
    lot = lot_by_code(code)
    change = _change(lot, change_id)
    form = DecisionForm()
    if not form.validate_on_submit() or form.decision.data not in ("approve", "refuse"):
        flash("Choisissez une décision.", "error")
        return redirect(url_for(".change", code=lot.code, change_id=change.id))
    try:
        service.decide(change, form.decision.data == "approve", form.comment.data, current_user,
                       expected_counter=form.counter.data or None)
    except service.SiteError as exc:
        _show_errors(form, exc)
    else:
        flash("Demande approuvée : le site est à jour." if change.status == ChangeStatus.APPROVED
              else "Demande refusée ; le mandataire en est informé par l'historique du site.", "success")
    return redirect(url_for(".change", code=lot.code, change_id=change_id))


@bp.post("/lots/<code>/demandes/<int:change_id>/retrait")
@roles(*PROPOSERS)
def withdraw(code, change_id):
    lot = lot_by_code(code)
    change = _change(lot, change_id)
    form = EmptyForm()
    if form.validate_on_submit():
        try:
            service.withdraw(change, current_user)
            flash("Demande retirée.", "success")
        except service.SiteError as exc:
            _show_errors(form, exc)
    return redirect(url_for(".change", code=lot.code, change_id=change_id))


@bp.route("/lots/<code>/sites/import", methods=["GET", "POST"])
@roles(*PROPOSERS)
def import_sites(code):
    lot = lot_by_code(code)
    form = ImportForm()
    errors = []
    if request.method == "POST" and form.validate_on_submit():
        upload = request.files.get("file")
        data = upload.read() if upload else b""
        try:
            batch, changes = importer.import_sites(lot, data, current_user, reason=form.reason.data)
        except importer.ImportRefused as exc:
            errors = exc.errors
            flash("Fichier refusé : aucune demande n'a été enregistrée. Corrigez les lignes "
                  "signalées puis déposez à nouveau le fichier.", "error")
        else:
            flash(f"{len(changes)} demande(s) enregistrée(s) (import {batch}).", "success")
            return redirect(url_for(".lot_sites", code=lot.code))
    return render_template("territory/import.html", lot=lot, form=form, errors=errors,
                           columns=importer.HEADERS)


@bp.get("/lots/<code>/sites/modele.xlsx")
@roles(*Role.ALL)
def import_template(code):
    lot = lot_by_code(code)
    return xlsx_response(f"modele-sites-{lot.code}.xlsx",
                         [importer.sites_sheet(lot, service.lot_sites(lot), title="Sites")])


@bp.post("/lots/<code>/imports/<batch>/approbation")
@roles(Role.MANAGER)
def approve_batch(code, batch):
    lot = lot_by_code(code)
    form = EmptyForm()
    if form.validate_on_submit():
        try:
            changes = service.approve_batch(lot, batch, form.comment.data, current_user)
            flash(f"{len(changes)} demande(s) de l'import approuvée(s).", "success")
        except service.SiteError as exc:
            _show_errors(form, exc)
    return redirect(url_for(".lot_sites", code=lot.code))


def register(app):
    from fc_market.web import add_lot_link, add_nav
    app.register_blueprint(bp)
    add_nav("Maillage", "territory.national", Role.FC, order=40)
    add_lot_link("Sites et maillage", "territory.lot_sites", Role.ALL, order=40)
