"""Excel sheets of the steering views, and the monthly steering pack (one sheet per view)."""
from fc_market.excel.writer import build_workbook
from fc_market.exports import Column, Sheet, month_column
from fc_market.steering import service
from fc_market.steering.indicators import INDICATORS, months_back
from fc_market.territory import service as territory

KIND = {"percent": "percent", "count": "int", "days": "int", "number": "number"}


def _value(indicator, reading):
    if reading.value is None:
        return None
    kind = INDICATORS[indicator].kind
    if kind in ("count", "days"):
        return int(round(reading.value))
    if kind == "number":
        return round(reading.value, 2)
    return reading.value


def _columns(indicators):
    cols = []
    for key in indicators:
        ind = INDICATORS[key]
        kind = KIND[ind.kind]
        cols.append(Column(lambda r, k=key: r["values"].get(k), ind.label, kind))
        cols.append(Column(lambda r, k=key: r["samples"].get(k), f"{ind.label} — effectif", "int"))
    return cols


def _row(code, name, view, indicators, flags=None):
    readings = {k: view.read(k) for k in indicators}
    return {"code": code, "name": name,
            "values": {k: _value(k, r) for k, r in readings.items()},
            "samples": {k: r.sample for k, r in readings.items()},
            "flags": flags or ""}


def dashboard_sheet(snap):
    rows = [_row(lot.code, lot.name, snap.views[lot.id], service.DASHBOARD_COLUMNS,
                 ", ".join(sorted(f.rule.code for f in snap.open_flags.get(lot.id, {}).values())))
            for lot in snap.lots]
    for lot, row in zip(snap.lots, rows):
        row["validated"] = snap.views[lot.id].validated_until or "aucun mois validé"
    rows.append(_row("FR", "National", snap.national, service.DASHBOARD_COLUMNS))
    rows[-1]["validated"] = f"somme des lots : {snap.months_note}"
    columns = [Column("code", "Lot"), Column("name", "Région"),
               Column("validated", "Validé jusqu'à")] + _columns(service.DASHBOARD_COLUMNS) \
        + [Column("flags", "Signalements ouverts")]
    return Sheet(f"Tableau national {snap.reference}", columns, rows)


def targets_sheet(snap):
    rows = []
    for lot in snap.lots + [None]:
        view = snap.national if lot is None else snap.views[lot.id]
        target = view.target
        pacing = view.pacing()
        fc = view.read("forecast_achievement")
        rows.append({"code": lot.code if lot else "FR", "name": lot.name if lot else "National",
                     "target": target.entries if target else None,
                     "done": pacing[0] if pacing else None,
                     "prorated": round(pacing[1]) if pacing else None,
                     "ach": pacing[2] if pacing else None,
                     "forecast": round(fc.value * target.entries) if fc.known and target else None,
                     "fc_ach": fc.value})
    return Sheet(f"Objectifs {snap.year}", [
        Column("code", "Lot"), Column("name", "Région"), Column("target", "Objectif annuel", "int"),
        Column("done", "Entrées cumulées", "int"), Column("prorated", "Objectif proratisé", "int"),
        Column("ach", "Réalisation", "percent"), Column("forecast", "Prévision au 31/12", "int"),
        Column("fc_ach", "Prévision / objectif", "percent")], rows)


def monthly_sheet(snap, year=None):
    year = year or snap.year
    periods = [f"{year:04d}-{m:02d}" for m in range(1, 13) if f"{year:04d}-{m:02d}" <= snap.reference]
    rows = []
    for lot in snap.lots + [None]:
        view = snap.national if lot is None else snap.views[lot.id]
        for p in periods:
            if p > view.reference:  # not validated for this lot yet
                continue
            month = view.month(p)
            r = _row(lot.code if lot else "FR", lot.name if lot else "National", month,
                     service.MONTHLY_ROWS)
            r["period"] = p
            rows.append(r)
    columns = [Column("code", "Lot"), Column("name", "Région"), month_column("period", "Mois")] + \
        _columns(service.MONTHLY_ROWS)
    return Sheet(f"Indicateurs mensuels {year}", columns, rows)


SIGNS = ("abandonment_rate", "information_only_share", "implementation_start_share",
         "short_pathway_share", "implementation_followup_share", "diversity_index",
         "volume_up_quality_down")


def signs_sheet(snap):
    rows = [_row(lot.code, lot.name, snap.views[lot.id], SIGNS) for lot in snap.lots]
    rows.append(_row("FR", "National", snap.national, SIGNS))
    return Sheet("Signaux d'alerte", [Column("code", "Lot"), Column("name", "Région")] + _columns(SIGNS),
                 rows)


def flags_sheets(flags):
    shown = service.format_value
    rows = [{"lot": f.lot.code, "code": f.rule.code, "category": f.rule.category_label,
             "label": f.rule.label, "value": float(f.value), "threshold": float(f.threshold),
             "shown": shown(f.rule.indicator, float(f.value)),
             "shown_threshold": shown(f.rule.indicator, float(f.threshold)),
             "comparison": "plancher" if f.rule.comparison == "below" else "plafond",
             "sample": f.sample, "opened": f.opened_on, "cleared": f.cleared_on,
             "trend": service.TREND_LABELS[service.trend(f)], "detail": f.detail} for f in flags]
    history = [{"lot": f.lot.code, "code": f.rule.code, "label": f.rule.label, "date": r.read_on, "value": float(r.value),
                "shown": shown(f.rule.indicator, float(r.value)),
                "sample": r.sample, "breached": "oui" if r.breached else "non"}
               for f in flags for r in f.readings]
    return [Sheet("Signalements", [
        Column("lot", "Lot"), Column("category", "Catégorie"),
        Column("label", "Règle"), Column("shown", "Valeur"),
        Column("value", "Valeur (nombre : taux en fraction, jours…)", "number"),
        Column("shown_threshold", "Seuil"), Column("threshold", "Seuil (nombre)", "number"),
        Column("comparison", "Type de seuil"),
        Column("sample", "Effectif", "int"), Column("opened", "Ouvert le", "date"),
        Column("cleared", "Levé le", "date"), Column("trend", "Tendance"),
        Column("detail", "Lecture")], rows),
        Sheet("Historique des signalements", [
            Column("lot", "Lot"), Column("label", "Règle"), Column("date", "Date", "date"),
            Column("shown", "Valeur"), Column("value", "Valeur (nombre)", "number"),
            Column("sample", "Effectif", "int"),
            Column("breached", "Seuil franchi")], history)]


def coverage_sheets(snap, top=20):
    cov_rows, zone_rows = [], []
    for lot in snap.lots:
        cov = snap.coverage[lot.id]
        cov_rows.append({"code": lot.code, "name": lot.name, "region": lot.region_code,
                         "radius": cov.terms.radius, "kinds": cov.terms.kinds_label,
                         "sites": sum(1 for s in cov.sites if s.kind == "permanent"),
                         "perm": sum(1 for s in cov.sites if s.kind == "permanence"),
                         "total": cov.rule.total_population,
                         "covered": cov.rule.covered_population, "share": cov.rule.share,
                         "share_wp": cov.with_permanences.share,
                         "zones": cov.rule.uncovered_count})
        for zone in territory.zone_rows(cov.rule, top):
            zone_rows.append({"code": lot.code, **zone})
    return [Sheet("Maillage", [
        Column("code", "Lot"), Column("name", "Région"), Column("region", "Code région INSEE"),
        Column("radius", "Rayon (km)"), Column("kinds", "Sites qui comptent"),
        Column("sites", "Sites permanents", "int"),
        Column("perm", "Permanences", "int"), Column("total", "Population", "int"),
        Column("covered", "Population couverte", "int"), Column("share", "Part couverte", "percent"),
        Column("share_wp", "Part couverte, permanences comprises", "percent"),
        Column("zones", "Communes non couvertes", "int")], cov_rows),
        Sheet(f"Zones blanches ({top} par lot)", [
            Column("code", "Lot"), Column("insee", "Code INSEE"), Column("name", "Commune"),
            Column("departement", "Département"), Column("population", "Population", "int"),
            Column("nearest_site_km", "Site le plus proche (km)")], zone_rows)]


def rules_sheet(rules):
    rows = [{"code": r.code, "category": r.category_label, "label": r.label,
             "indicator": INDICATORS[r.indicator].label if r.indicator in INDICATORS else r.indicator,
             "definition": INDICATORS[r.indicator].definition if r.indicator in INDICATORS
             else "indicateur non calculé par l'application",
             "comparison": "plancher" if r.comparison == "below" else "plafond",
             "threshold": service.format_value(r.indicator, float(r.threshold)),
             "min_sample": r.min_sample} for r in rules]
    return Sheet("Règles", [Column("category", "Catégorie"),
                            Column("label", "Libellé"), Column("indicator", "Indicateur"),
                            Column("definition", "Définition"), Column("comparison", "Seuil"),
                            Column("threshold", "Valeur du seuil"),
                            Column("min_sample", "Effectif minimal", "int")], rows)


def lot_sheets(snap, lot, year):
    view = snap.views[lot.id]
    periods = [f"{year:04d}-{m:02d}" for m in range(1, 13) if f"{year:04d}-{m:02d}" <= view.reference]
    rows = []
    for p in periods:
        r = _row(lot.code, lot.name, view.month(p), service.MONTHLY_ROWS)
        r["period"] = p
        rows.append(r)
    current = [_row(lot.code, lot.name, view, tuple(service.DASHBOARD_COLUMNS) + SIGNS)]
    return [Sheet(f"{lot.code} mensuel {year}", [month_column("period", "Mois")] + _columns(service.MONTHLY_ROWS),
                  rows),
            Sheet(f"{lot.code} au {view.reference}", _columns(tuple(service.DASHBOARD_COLUMNS) + SIGNS),
                  current)]


#: Sheets other modules add to the pack: function(snap, flags) -> [Sheet] (UO4, flag cases)
EXTRA_SHEETS = []


def build_pack(snap, flags):
    """The monthly steering pack: one sheet per view."""
    sheets = [dashboard_sheet(snap), targets_sheet(snap), monthly_sheet(snap), signs_sheet(snap)]
    sheets += flags_sheets(flags)
    for extra in EXTRA_SHEETS:
        sheets += extra(snap, flags)
    sheets += coverage_sheets(snap)
    sheets.append(rules_sheet(snap.rules))
    return build_workbook(sheets)


def generate(today=None, trigger="job", user=None):
    """Build and store the pack of the current reference month."""
    import sqlalchemy as sa
    from fc_market.extensions import db
    snap = service.snapshot(today=today)
    flags = db.session.scalars(service.flags_query(open_only=False).where(
        sa.or_(service.Flag.cleared_on.is_(None),
               service.Flag.cleared_on >= snap.today.replace(day=1) - service.timedelta(days=366)))).all()
    content = build_pack(snap, flags)
    return service.store_pack(content, snap.reference, trigger, user)


__all__ = ["build_pack", "generate", "months_back"]
