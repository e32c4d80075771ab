"""Excel exports of the reporting screens (every table on screen has one)."""
import sqlalchemy as sa

from fc_market.exports import month_column
from fc_market.excel.writer import Column, Sheet
from fc_market.extensions import db
from fc_market.market.models import UnitOfWork
from fc_market.formatting import month
from fc_market.reporting import dictionary as dd
from fc_market.reporting.models import Act
from fc_market.territory.models import Site

#: Acts fetched at a time by an export (a server-side cursor on PostgreSQL): the memory of an
#: export stays flat whatever the size of the version
ACT_FETCH_ROWS = 2000


def _label(codes, value):
    return codes.get(value, value) if value else None


def periods_sheet(lot, rows):
    data = []
    for r in rows:
        state, _ = r.state
        latest = r.latest
        first = r.first_submitted
        data.append({"period": r.period, "due_on": r.due_on, "state": state,
                     "versions": len(r.versions),
                     "latest": latest.number if latest else None,
                     "submitted_at": first.submitted_at if first else None,
                     "days_late": r.days_late,
                     "late_since": r.report.late_since if r.report else None,
                     "acts": r.in_force.act_count if r.in_force else None,
                     "warnings": r.in_force.warning_count if r.in_force else None})
    columns = [month_column("period", "Période"), Column("due_on", "Échéance", "date"),
               Column("state", "État"), Column("versions", "Versions", "int"),
               Column("latest", "Dernière version", "int"),
               Column("submitted_at", "Premier dépôt", "datetime"),
               Column("days_late", "Jours de retard", "int"),
               Column("late_since", "En retard depuis", "date"),
               Column("acts", "Actes (version en vigueur)", "int"),
               Column("warnings", "Avertissements", "int")]
    return Sheet(f"Reporting {lot.code}", columns, data)


def issues_sheet(title, issues):
    columns = [Column("sheet", "Feuille"), Column("row", "Ligne", "int"),
               Column("column", "Colonne"), Column("field", "Champ"),
               Column("message", "Message"), Column("code", "Code")]
    return Sheet(title, columns, issues)


def act_rows(version_id):
    """Acts of a version as plain rows (one query with UO and site codes)."""
    t = Act.__table__
    stmt = (sa.select(t.c.source_row, t.c.beneficiary_id, UnitOfWork.code.label("uo"), t.c.act_date,
                      t.c.mode, Site.code.label("site"), t.c.proof_ref, t.c.sex, t.c.age_band,
                      t.c.csp, t.c.employment_status, t.c.sector)
            .join(UnitOfWork, UnitOfWork.id == t.c.uo_id)
            .outerjoin(Site, Site.id == t.c.site_id)
            .where(t.c.version_id == version_id).order_by(t.c.source_row, t.c.id)
            .execution_options(yield_per=ACT_FETCH_ROWS))
    return db.session.execute(stmt).mappings()


def acts_sheet(version):
    columns = [Column("source_row", "Ligne du fichier", "int"),
               Column("beneficiary_id", dd.ACT_HEADERS["beneficiary_id"]),
               Column("uo", dd.ACT_HEADERS["uo_code"]),
               Column("act_date", dd.ACT_HEADERS["act_date"], "date"),
               Column(lambda r: _label(dd.MODES, r["mode"]), dd.ACT_HEADERS["mode"]),
               Column("site", dd.ACT_HEADERS["site_code"]),
               Column("proof_ref", dd.ACT_HEADERS["proof_ref"]),
               Column("sex", dd.ACT_HEADERS["sex"]), Column("age_band", dd.ACT_HEADERS["age_band"]),
               Column(lambda r: _label(dd.CSP, r["csp"]), dd.ACT_HEADERS["csp"]),
               Column(lambda r: _label(dd.EMPLOYMENT, r["employment_status"]),
                      dd.ACT_HEADERS["employment_status"]),
               Column(lambda r: _label(dd.SECTORS, r["sector"]), dd.ACT_HEADERS["sector"])]
    return Sheet("Actes", columns, act_rows(version.id))


def figures_sheet(version):
    fig = version.figures
    rows = [{"label": label, "value": getattr(fig, name) if fig else None}
            for name, label, _ in dd.FIGURE_ROWS]
    return Sheet("Indicateurs du lot", [Column("label", "Indicateur"), Column("value", "Valeur")],
                 rows)


def history_sheet(versions):
    rows = [{"number": v.number, "status": v.status_label, "source": v.source,
             "file": v.file_name, "created_at": v.created_at, "submitted_at": v.submitted_at,
             "days_late": v.days_late if v.submitted_at else None, "decided_at": v.decided_at,
             "comment": v.decision_comment, "acts": v.act_count, "warnings": v.warning_count}
            for v in versions]
    columns = [Column("number", "Version", "int"), Column("status", "État"),
               Column("source", "Origine"), Column("file", "Fichier"),
               Column("created_at", "Créée le", "datetime"),
               Column("submitted_at", "Déposée le", "datetime"),
               Column("days_late", "Jours de retard", "int"),
               Column("decided_at", "Décision le", "datetime"),
               Column("comment", "Commentaire de France compétences"),
               Column("acts", "Actes", "int"), Column("warnings", "Avertissements", "int")]
    return Sheet("Versions", columns, rows)


def imports_sheet(imports):
    rows = [{"at": i.created_at, "user": i.user.email if i.user else None,
             "channel": "ligne de commande" if i.channel == "cli" else "web", "file": i.file_name,
             "result": "Accepté" if i.accepted else "Refusé", "rows": i.row_count,
             "errors": i.error_count, "warnings": i.warning_count, "sha256": i.file_sha256}
            for i in imports]
    return Sheet("Imports", [
        Column("at", "Date", "datetime"), Column("user", "Compte"), Column("channel", "Canal"),
        Column("file", "Fichier"), Column("result", "Résultat"), Column("rows", "Lignes", "int"),
        Column("errors", "Erreurs", "int"), Column("warnings", "Avertissements", "int"),
        Column("sha256", "Empreinte SHA-256")], rows)


def version_sheets(version):
    from fc_market.reporting.service import versions_of
    return [acts_sheet(version), figures_sheet(version),
            issues_sheet("Avertissements", version.warnings or []),
            history_sheet(versions_of(version.report))]


def review_sheets(context, units):
    history = [{"period": h["period"], "total": h["total"], **{u: h["by_uo"].get(u, 0) for u in units},
                "l1": h["rates"].get("l1"), "l2": h["rates"].get("l2"),
                "useful": h["rates"].get("useful")} for h in context["history"]]
    cols = [month_column("period", "Période"), Column("total", "Actes", "int")]
    cols += [Column(u, u, "int") for u in units]
    cols += [Column("l1", "Satisfaction N1", "percent"), Column("l2", "Satisfaction N2", "percent"),
             Column("useful", "Utilité à 6 mois", "percent")]
    national = [{"lot": r["lot"].code, "name": r["lot"].name, "total": r["total"],
                 "per_1000": r["per_1000"], **{u: r["by_uo"].get(u, 0) for u in units},
                 "l1": r["rates"].get("l1"), "l2": r["rates"].get("l2")}
                for r in context["national_rows"]]
    ncols = [Column("lot", "Lot"), Column("name", "Région"), Column("total", "Actes", "int"),
             Column("per_1000", "Actes pour 1 000 hab."),
             *[Column(u, u, "int") for u in units],
             Column("l1", "Satisfaction N1", "percent"), Column("l2", "Satisfaction N2", "percent")]
    notes = [{"kind": "Alerte" if css == "bad" else "À vérifier", "text": text}
             for css, text in context["anomalies"]]
    return [Sheet("Mois précédents", cols, history), Sheet("Panorama national", ncols, national),
            Sheet("Points d'attention", [Column("kind", "Nature"), Column("text", "Constat")], notes)]


def queue_sheet(queue):
    rows = [{"lot": v.report.lot.code, "period": v.report.period, "number": v.number,
             "submitted_at": v.submitted_at, "days_late": v.days_late, "acts": v.act_count,
             "warnings": v.warning_count} for v in queue]
    return Sheet("En attente d'examen", [
        Column("lot", "Lot"), month_column("period", "Période"), Column("number", "Version", "int"),
        Column("submitted_at", "Déposée le", "datetime"), Column("days_late", "Jours de retard", "int"),
        Column("acts", "Actes", "int"), Column("warnings", "Avertissements", "int")], rows)


def matrix_sheet(lots, periods, matrix):
    rows = []
    for lot in lots:
        row = {"lot": lot.code, "name": lot.name}
        for p in periods:
            cell = matrix[lot.id][p]
            label, _ = cell.state
            row[p] = label + (f" ({cell.days_late} j de retard)" if cell.days_late else "")
        rows.append(row)
    columns = [Column("lot", "Lot"), Column("name", "Région")] + [Column(p, month(p)) for p in periods]
    return Sheet("Lots et périodes", columns, rows)


def alerts_sheet(alerts):
    rows = [{"id": a.id, "created_at": a.created_at, "status": a.status_label,
             "beneficiary": a.beneficiary_id, "level": a.level, "lot": a.lot.code,
             "uo": a.uo_code, "date": a.act_date, "other_lot": a.other_lot.code,
             "other_uo": a.other_uo_code, "other_date": a.other_act_date,
             "window": a.window_months, "comment": a.comment} for a in alerts]
    return Sheet("Double financement", [
        Column("id", "N°", "int"), Column("created_at", "Détectée le", "datetime"),
        Column("status", "État"), Column("beneficiary", "Identifiant bénéficiaire"),
        Column("level", "Niveau", "int"), Column("lot", "Lot déclarant"), Column("uo", "UO"),
        Column("date", "Date de l'acte", "date"), Column("other_lot", "Autre lot"),
        Column("other_uo", "UO (autre lot)"), Column("other_date", "Date (autre lot)", "date"),
        Column("window", "Fenêtre (mois)", "int"), Column("comment", "Motif de la décision")], rows)

