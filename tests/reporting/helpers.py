"""Reporting test helpers: sites, identifiers and filled-in template files."""
import hashlib
from datetime import date
from decimal import Decimal
from io import BytesIO

import openpyxl
import sqlalchemy as sa

from fc_market.extensions import db
from fc_market.market.models import Lot
from fc_market.territory.models import Site

FIGURES = {"l1_respondents": 40, "l1_satisfied": 36, "l2_respondents": 20, "l2_satisfied": 18,
           "usefulness_respondents": 10, "usefulness_useful": 7, "complaints": 1,
           "uo4_actions": "Atelier qualité"}


def lot(code):
    return db.session.scalar(sa.select(Lot).where(Lot.code == code))


def ben(n):
    """A well-formed pseudonymised identifier."""
    return hashlib.sha256(f"beneficiary-{n}".encode()).hexdigest()


def add_sites():
    """IDF: S001, S002 open; S003 closed end of February 2025.  BRE: S001 and S090."""
    spec = [("IDF", "S001", None), ("IDF", "S002", None), ("IDF", "S003", date(2025, 2, 28)),
            ("BRE", "S001", None), ("BRE", "S090", None)]
    for code, site_code, closed in spec:
        db.session.add(Site(lot_id=lot(code).id, code=site_code, name=f"Point CEP {code} {site_code}",
                            commune="Commune", latitude=Decimal("48.1"), longitude=Decimal("2.1"),
                            kind="permanent", opened_on=date(2024, 1, 1), closed_on=closed))
    db.session.commit()


def row(n=1, uo="UO1", day=date(2025, 3, 10), mode="Présentiel", site="S001", proof="DS-1",
        sex="F", age="26-44", csp="5 — Employés", employment="cdi", sector="Q", beneficiary=None):
    return [beneficiary if beneficiary is not None else ben(n), uo, day, mode, site, proof, sex,
            age, csp, employment, sector]


def make_file(code, period, rows, figures=FIGURES, template=True, lot_cell=None, period_cell=None):
    """A filled-in file: the lot's real template, acts appended, figures typed in."""
    from fc_market.reporting import service
    from fc_market.reporting.checks import Rules
    from fc_market.reporting.workbook import build_template
    the_lot = lot(code)
    if template:
        data = build_template(the_lot, period, Rules.load(the_lot, period),
                              service.deadline(the_lot, period))
        wb = openpyxl.load_workbook(BytesIO(data))
    else:
        wb = openpyxl.Workbook()
        wb.active.title = "Actes"
        wb.active.append(["Identifiant bénéficiaire", "Code UO", "Date de l'acte", "Modalité",
                          "Site (présentiel)", "Référence du justificatif", "Sexe", "Tranche d'âge",
                          "Catégorie socio-professionnelle", "Situation d'emploi",
                          "Secteur d'activité (NAF)"])
    ws = wb["Actes"]
    for values in rows:
        ws.append(values)
    if figures is not None and "Indicateurs du lot" in wb.sheetnames:
        fs = wb["Indicateurs du lot"]
        from fc_market.reporting.dictionary import FIGURE_FIRST_ROW, FIGURE_ROWS
        for offset, (name, _, _) in enumerate(FIGURE_ROWS):
            fs.cell(row=FIGURE_FIRST_ROW + offset, column=2, value=figures.get(name))
        if lot_cell:
            fs["B2"] = lot_cell
        if period_cell:
            fs["B3"] = period_cell
    out = BytesIO()
    wb.save(out)
    return out.getvalue()


def table_counts():
    """Row count of every table (to prove a refused file changes nothing)."""
    counts = {}
    with db.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            counts[table.name] = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar()
    return counts


def validated(code, period, rows, user, today=None):
    """Import and submit a file, then validate it as ``user`` (an FC manager)."""
    from fc_market.reporting import service
    the_lot = lot(code)
    result = service.import_file(the_lot, period, make_file(code, period, rows),
                                 user=user, submit=True, today=today)
    assert result.accepted, [i.message for i in result.errors]
    from fc_market.reporting.models import ReportVersion
    version = db.session.get(ReportVersion, result.version_id)
    service.decide(version, user, "validate", None, None)
    db.session.commit()
    return version


def by_column(acts):
    """Acts (dicts of the same fields) as `ActWriter.write_columns` takes them."""
    return {name: [act[name] for act in acts] for name in acts[0]} if acts else {}
