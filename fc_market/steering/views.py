"""Steering screens: national dashboard, lot scorecard, flags, steering packs."""
from datetime import date

import sqlalchemy as sa
from flask import (Blueprint, abort, current_app, flash, redirect, render_template, request,
                   send_file, url_for)
from flask_login import current_user
from io import BytesIO

from fc_market.access import get_in_lot, lot_by_code, roles, visible_lots
from fc_market.auth.models import Role
from fc_market.exports import XLSX_MIMETYPE, Column, Sheet, xlsx_response, month_column
from fc_market.extensions import db
from fc_market.steering import tables, charts, pack, service
from fc_market.steering.forms import EmptyForm
from fc_market.steering.indicators import INDICATORS, indicators_for, months_back
from fc_market.steering.models import Flag, SteeringPack

bp = Blueprint("steering", __name__, url_prefix="/pilotage")
MONTHS = ("janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.",
          "nov.", "déc.")


def _label(period):
    return f"{MONTHS[int(period[5:7]) - 1]} {period[2:4]}"


def _pct(v):
    return f"{v:.0%}".replace("%", "\u00a0%")


def entries_data(view, year):
    """``(labels, entries, target)`` of a year: the month's entries (None after the last
    validated month) and the monthly target line (current year only, else None)."""
    monthly = view.monthly_entries(year)
    months = 12 if year < int(view.reference[:4]) else int(view.reference[5:7])
    bars = [monthly[i] if i < months else None for i in range(12)]
    line = None
    if view.target is not None and year == int(view.reference[:4]):
        from fc_market.steering.indicators import profile_weights
        line = [view.target.entries * w for w in profile_weights(view.target.monthly_profile)]
    return [f"{MONTHS[i]}" for i in range(12)], bars, line


def entries_chart(view, year, title):
    labels, bars, line = entries_data(view, year)
    return charts.bars_and_line(labels, bars, line, title=title,
                                bar_label="Entrées du mois", line_label="Objectif mensuel")


#: Quality indicators drawn over the last months on the scorecards
QUALITY_KEYS = ("satisfaction_l1", "satisfaction_l2", "usefulness")


def quality_data(view, months=12):
    """``(periods, [(indicator label, values)])`` of the quality indicators over the last
    ``months`` validated months (None where no answer was collected)."""
    periods = months_back(view.reference, months)
    readings = {p: view.month(p) for p in periods}
    series = [(INDICATORS[k].label, [readings[p].read(k).value for p in periods]) for k in QUALITY_KEYS]
    return periods, series


def quality_chart(view, title, months=24):
    periods, series = quality_data(view, months)
    return charts.lines([_label(p) for p in periods], series, title=title, y_fmt=_pct, y_max=1.0)


@bp.get("")
@roles(*Role.FC)
def dashboard():
    snap = service.snapshot(visible_lots())
    rows = [(lot, {k: snap.views[lot.id].read(k) for k in service.DASHBOARD_COLUMNS})
            for lot in snap.lots]
    national = {k: snap.national.read(k) for k in service.DASHBOARD_COLUMNS}
    # headings print the contract's terms (radius, windows…), those of the first lot shown
    indicators = indicators_for(service.terms_of(snap.lots[0])) if snap.lots else INDICATORS
    flags = [f for by in snap.open_flags.values() for f in by.values()]
    open_count = db.session.scalar(sa.select(sa.func.count()).select_from(Flag)
                                   .where(Flag.cleared_on.is_(None)))
    return render_template(
        "steering/dashboard.html", snap=snap, rows=rows, national=national,
        columns=[indicators[k] for k in service.DASHBOARD_COLUMNS], groups=service.DASHBOARD_GROUPS,
        fmt=service.format_value,
        cell_class=service.cell_class, lapsed_flag=service.lapsed_flag, flags=flags, open_count=open_count,
        queued=service.queued_lots(),
        entries_svg=entries_chart(snap.national, snap.year,
                                  f"Entrées mensuelles {snap.year} et objectif, national"),
        quality_svg=quality_chart(snap.national, "Satisfaction et utilité, national (24 mois)"))


@bp.get("/export.xlsx")
@roles(*Role.FC)
def dashboard_export():
    snap = service.snapshot(visible_lots())
    return xlsx_response(f"pilotage-{snap.reference}.xlsx",
                         [pack.dashboard_sheet(snap), pack.targets_sheet(snap), pack.signs_sheet(snap)])


def _links(lot):
    """The lot's other screens that exist in this deployment (reports, controls, payments…)."""
    from fc_market.web import lot_links_for
    return [(label, endpoint) for label, endpoint in lot_links_for(current_user)
            if endpoint in current_app.view_functions and endpoint != "steering.scorecard"]


@bp.get("/lots/<code>")
@roles(*Role.ALL)
def scorecard(code):
    lot = lot_by_code(code)
    snap = service.snapshot([lot], history_years=2)
    view = snap.views[lot.id]
    year = request.args.get("annee", type=int) or snap.year
    if not snap.year - 2 <= year <= snap.year:
        year = snap.year
    periods = [f"{year:04d}-{m:02d}" for m in range(1, 13) if f"{year:04d}-{m:02d}" <= snap.reference]
    monthly = {p: view.month(p) for p in periods}
    terms = service.terms_of(lot)
    indicators = indicators_for(terms)
    table = [(indicators[k], [monthly[p].read(k) for p in periods]) for k in service.MONTHLY_ROWS]
    show_flags = current_user.is_fc
    flags = db.session.scalars(service.flags_query([lot.id], open_only=False)).all() if show_flags else []
    from fc_market.territory.views import lot_map
    cov = snap.coverage[lot.id]
    current = [(indicators[k], view.read(k)) for k in tuple(service.DASHBOARD_COLUMNS) + pack.SIGNS]
    return render_template(
        "steering/scorecard.html", lot=lot, snap=snap, view=view, year=year, periods=periods,
        labels=[_label(p) for p in periods], table=table, current=current, terms=terms,
        fmt=service.format_value, cell_class=service.cell_class, lapsed_flag=service.lapsed_flag, show_flags=show_flags,
        open_flags=[f for f in flags if f.is_open], cleared=[f for f in flags if not f.is_open][:20],
        trend=service.trend, trends=service.TREND_LABELS, spark=charts.sparkline, cov=cov,
        map_svg=lot_map(cov), links=_links(lot), years=range(snap.year - 2, snap.year + 1),
        entries_svg=entries_chart(view, year, f"Entrées mensuelles {year} et objectif — {lot.code}"),
        entries_table=entries_data(view, year),
        quality_svg=quality_chart(view, f"Satisfaction et utilité — {lot.code} (12 mois)", months=12),
        quality_table=quality_data(view, 12), pct=_pct)


@bp.get("/lots/<code>/indicateurs.xlsx")
@roles(*Role.ALL)
def scorecard_export(code):
    lot = lot_by_code(code)
    snap = service.snapshot([lot], history_years=2)
    year = request.args.get("annee", type=int) or snap.year
    sheets = pack.lot_sheets(snap, lot, year)
    if current_user.is_fc:
        sheets += pack.flags_sheets(db.session.scalars(service.flags_query([lot.id], open_only=False)).all())
    return xlsx_response(f"indicateurs-{lot.code}-{year}.xlsx", sheets)


@bp.get("/signalements")
@roles(*Role.FC)
def flags():
    page = tables.FLAGS.page(tables.base_query(), "steering.flags",
                             export_endpoint="steering.flags_export")
    market = service.current_market()
    return render_template("steering/flags.html", page=page,
                           rules=list(market.flag_rules) if market else [], indicators=INDICATORS,
                           fmt=service.format_value, form=EmptyForm(),
                           queued=service.queued_lots())


@bp.get("/signalements.xlsx")
@roles(*Role.FC)
def flags_export():
    flags = tables.FLAGS.rows(tables.base_query())
    market = service.current_market()
    return xlsx_response("signalements.xlsx", pack.flags_sheets(flags)
                         + [pack.rules_sheet(list(market.flag_rules) if market else [])])


@bp.get("/signalements/<int:flag_id>")
@roles(*Role.FC)
def flag(flag_id):
    flag = get_in_lot(Flag, flag_id)
    indicator = indicators_for(service.terms_of(flag.lot)).get(flag.rule.indicator)
    svg = charts.lines([r.read_on.strftime("%d/%m/%y") for r in flag.readings],
                       [(indicator.label if indicator else flag.rule.indicator,
                         [float(r.value) for r in flag.readings])],
                       title=f"Historique — {flag.rule.label}", threshold=float(flag.threshold),
                       y_fmt=lambda v: service.format_value(flag.rule.indicator, v))
    return render_template("steering/flag.html", flag=flag, indicator=indicator, svg=svg,
                           fmt=service.format_value, trend=service.trend(flag),
                           trends=service.TREND_LABELS)


@bp.get("/signalements/<int:flag_id>.xlsx")
@roles(*Role.FC)
def flag_export(flag_id):
    flag = get_in_lot(Flag, flag_id)
    return xlsx_response(f"signalement-{flag.lot.code}-{flag.rule.code}.xlsx", pack.flags_sheets([flag]))


@bp.post("/recalcul")
@roles(Role.MANAGER)
def recompute():
    form = EmptyForm()
    if form.validate_on_submit():
        waiting = service.request_full_rebuild()
        flash(f"Recalcul demandé : les agrégats et les signalements de {waiting} lot(s) sont "
              "reconstruits en arrière-plan, lot par lot ; l'avancement s'affiche sur cette page.",
              "success")
    return redirect(url_for(".flags"))


@bp.get("/dossiers")
@roles(*Role.FC)
def packs():
    rows = db.session.scalars(sa.select(SteeringPack).order_by(SteeringPack.generated_at.desc())
                              .limit(60)).all()
    return render_template("steering/packs.html", rows=rows, form=EmptyForm())


@bp.get("/dossiers.xlsx")
@roles(*Role.FC)
def packs_export():
    rows = db.session.scalars(sa.select(SteeringPack).order_by(SteeringPack.generated_at.desc())).all()
    columns = [month_column("period", "Mois"), Column("generated_at", "Généré le (UTC)", "datetime"),
               Column(lambda p: p.generated_by.full_name if p.generated_by else "tâche planifiée", "Par", "text"),
               Column("size", "Taille (octets)", "int"), Column("sha256", "Empreinte SHA-256", "text")]
    return xlsx_response("dossiers-de-pilotage.xlsx", [Sheet("Dossiers de pilotage", columns, rows)])


@bp.post("/dossiers")
@roles(Role.MANAGER)
def generate_pack():
    form = EmptyForm()
    if form.validate_on_submit():
        new = pack.generate(trigger="demand", user=current_user)
        flash(f"Dossier de pilotage {new.period} généré.", "success")
    return redirect(url_for(".packs"))


@bp.get("/dossiers/<int:pack_id>")
@roles(*Role.FC)
def download_pack(pack_id):
    row = db.session.get(SteeringPack, pack_id)
    if row is None:
        abort(404)
    return send_file(BytesIO(row.content), mimetype=XLSX_MIMETYPE, as_attachment=True,
                     download_name=row.filename)


def register(app):
    from fc_market import web
    app.register_blueprint(bp)
    web.add_nav("Pilotage", "steering.dashboard", Role.FC, order=10)
    web.add_nav("Signalements", "steering.flags", Role.FC, order=12)
    web.add_lot_link("Tableau de bord du lot", "steering.scorecard", Role.ALL, order=10)
    web.HOME[Role.MANAGER] = "steering.dashboard"


__all__ = ["bp", "register", "date"]
