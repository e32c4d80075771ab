"""``flask --app fc_market audit figures``: the totals the screens show, recomputed
independently from the source records, with every disagreement and where it is shown.

Each check reads the figure as the application computes it for its screens (the steering
aggregates, :func:`fc_market.billing.service.finance_figures`, the stored statement lines,
:func:`fc_market.territory.service.lot_coverage`) and recomputes it here with its own plain
queries and loops — never through the functions it checks:

* **volumes**: acts per lot, month and UO of the validated report versions, counted with
  one GROUP BY, against the steering aggregates the dashboards read;
* **statements**: for each lot-month, the act lines of its statements (all ranks added up)
  against the acts of the month's validated report version (the statement's own while none
  is validated) priced at the contract price in force on each act's date; each line's gross
  amount against quantity × unit price;
* **finance**: per lot and year, invoiced, credited, penalties deducted, invoiced beyond the
  certified amount, paid and outstanding summed from the invoice, credit-note,
  statement and reconciliation rows, against the finance figures; and the identity
  invoiced − credited − deducted − not certified − paid = outstanding on those figures;
* **invoices**: each invoice's "Montant dû" (the certified payable amount less its credit
  notes), its payment delay (receipt → last payment) and its match label (a rejected invoice
  never reads "Conforme");
* **coverage**: each lot's covered population, from the same localities, open sites of the
  counted kind and radius the coverage function uses, recomputed with a plain haversine loop.

The nightly job ``audit.figures`` runs it and stores its result (:class:`FiguresAudit`);
finance and administrators see the latest one on the finance dashboard.
"""
from __future__ import annotations

import math
from collections import defaultdict
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa

from fc_market.audit.models import FiguresAudit
from fc_market.extensions import db
from fc_market.market.models import Lot, Price, UnitOfWork
from fc_market.models_base import utcnow

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
EARTH_RADIUS_KM = 6371.0088
#: Distances are compared at the half-metre, as the coverage module does
DISTANCE_TOLERANCE_KM = 0.0005

CHECK_LABELS = {
    "volumes": "Volumes des tableaux de bord contre les actes validés",
    "statements": "Lignes des états liquidatifs contre actes × prix du contrat",
    "finance": "Identité financière par lot et par année",
    "invoices": "Montant dû, délai de paiement et rapprochement de chaque facture",
    "coverage": "Couverture territoriale contre les sites ouverts",
}


class Audit:
    def __init__(self):
        self.compared = defaultdict(int)
        self.disagreements = []

    def compare(self, check, where, what, shown, expected):
        self.compared[check] += 1
        if shown != expected:
            self.disagreements.append({"check": check, "where": where, "what": what,
                                       "shown": _text(shown), "expected": _text(expected)})

    def result(self, today):
        return {"date": today.isoformat(), "ok": not self.disagreements,
                "checked": sum(self.compared.values()),
                "checks": {name: {"label": label, "compared": self.compared.get(name, 0),
                                  "disagreements": sum(1 for d in self.disagreements
                                                       if d["check"] == name)}
                           for name, label in CHECK_LABELS.items()},
                "disagreements": self.disagreements}


def _text(value):
    if isinstance(value, Decimal):
        return str(value.quantize(CENT)) if value == value.quantize(CENT) else str(value)
    if isinstance(value, dict):
        return {k: _text(v) for k, v in sorted(value.items())}
    return value


def _month(day):
    return f"{day.year:04d}-{day.month:02d}"


# --------------------------------------------------------------------- volumes

def check_volumes(audit, lots):
    from fc_market.reporting.models import Act, ReportVersion, VersionStatus
    from fc_market.steering.models import LotMonthStat
    codes = {u.id: u.code for u in db.session.scalars(sa.select(UnitOfWork))}
    expected = defaultdict(lambda: defaultdict(int))
    rows = db.session.execute(
        sa.select(Act.lot_id, Act.act_date, Act.uo_id, sa.func.count())
        .join(ReportVersion, ReportVersion.id == Act.version_id)
        .where(ReportVersion.status == VersionStatus.VALIDATED)
        .group_by(Act.lot_id, Act.act_date, Act.uo_id)).all()
    for lot_id, act_date, uo_id, count in rows:
        expected[(lot_id, _month(act_date))][codes[uo_id]] += count
    shown = {(s.lot_id, s.period): s for s in db.session.scalars(sa.select(LotMonthStat))}
    by_id = {l.id: l for l in lots}
    for key in sorted(set(expected) | {k for k, s in shown.items() if s.acts}):
        lot_id, period = key
        if lot_id not in by_id:
            continue
        lot = by_id[lot_id]
        stat = shown.get(key)
        want = dict(expected.get(key, {}))
        where = f"/pilotage/lots/{lot.code} et tableau de bord national ({lot.code}, {period})"
        audit.compare("volumes", where, "actes du mois", stat.acts if stat else 0, sum(want.values()))
        audit.compare("volumes", where, "actes par UO",
                      {k: v for k, v in ((stat.acts_by_uo or {}) if stat else {}).items() if v},
                      want)


# ------------------------------------------------------------------ statements

def check_statements(audit, lots):
    from fc_market.billing.models import PayableStatement, PayableStatementLine
    from fc_market.reporting.models import Act, Report, ReportVersion, VersionStatus
    by_id = {l.id: l for l in lots}
    units = {u.id: u for u in db.session.scalars(sa.select(UnitOfWork))}
    prices = defaultdict(list)
    for p in db.session.scalars(sa.select(Price).order_by(Price.valid_from, Price.id)):
        prices[(p.lot_id, p.uo_id)].append((p.valid_from, Decimal(p.unit_price)))
    statements = db.session.scalars(
        sa.select(PayableStatement).where(PayableStatement.lot_id.in_(list(by_id)))
        .order_by(PayableStatement.lot_id, PayableStatement.period, PayableStatement.rank)).all()
    months = defaultdict(list)
    for st in statements:
        months[(st.lot_id, st.period)].append(st)
    validated = {(lot_id, period): version_id for lot_id, period, version_id in db.session.execute(
        sa.select(Report.lot_id, Report.period, ReportVersion.id)
        .join(ReportVersion, ReportVersion.report_id == Report.id)
        .where(ReportVersion.status == VersionStatus.VALIDATED)).all()}
    lines = defaultdict(list)
    for line in db.session.scalars(sa.select(PayableStatementLine)):
        lines[line.statement_id].append(line)
    for (lot_id, period), group in months.items():
        lot = by_id[lot_id]
        latest = group[-1]
        where = f"/etats/{latest.id} ({lot.code} {period})"
        shown = defaultdict(int)
        for st in group:
            for line in lines[st.id]:
                if line.kind != "acts":
                    continue
                shown[(line.uo_code, _text(Decimal(line.unit_price)))] += line.quantity
                gross = (Decimal(line.unit_price) * line.quantity).quantize(CENT, ROUND_HALF_UP)
                audit.compare("statements", f"/etats/{st.id} ({lot.code} {period})",
                              f"montant au prix de base de la ligne {line.uo_code} "
                              f"({line.quantity} × {_text(Decimal(line.unit_price))})",
                              Decimal(line.gross_amount),
                              gross)
        expected = defaultdict(int)
        # the acts of the month's validated version (the statement's own while none is)
        version_id = validated.get((lot_id, period), latest.report_version_id)
        if version_id is not None:
            rows = db.session.execute(
                sa.select(Act.uo_id, Act.act_date, sa.func.count())
                .where(Act.version_id == version_id)
                .group_by(Act.uo_id, Act.act_date)).all()
            for uo_id, act_date, count in rows:
                uo = units[uo_id]
                if uo.kind == "lump_sum":
                    continue
                in_force = [price for start, price in prices[(lot_id, uo_id)] if start <= act_date]
                price = in_force[-1] if in_force else None
                expected[(uo.code, _text(price) if price is not None else "sans prix")] += count
        audit.compare("statements", where, "actes facturés par UO et prix unitaire",
                      {f"{k[0]} à {k[1]}": v for k, v in shown.items() if v},
                      {f"{k[0]} à {k[1]}": v for k, v in expected.items() if v})


# --------------------------------------------------------------------- finance

def _finance_rows(lot_ids):
    """Plain sums per (lot, year) from the invoice, statement and reconciliation rows."""
    from fc_market.billing.models import Invoice, InvoiceStatus, PayableStatement, Reconciliation
    sums = defaultdict(lambda: {"invoiced": ZERO, "credited": ZERO, "deducted": ZERO,
                                "not_certified": ZERO, "paid": ZERO})
    invoices = db.session.execute(
        sa.select(Invoice.id, Invoice.lot_id, PayableStatement.period, Invoice.amount_incl_tax,
                  Invoice.deductions, PayableStatement.amount_payable)
        .join(PayableStatement, PayableStatement.id == Invoice.statement_id)
        .where(Invoice.kind == "invoice", Invoice.status != InvoiceStatus.REJECTED,
               Invoice.lot_id.in_(lot_ids))).all()
    key_of = {}
    for inv_id, lot_id, period, incl, deductions, payable in invoices:
        key = key_of[inv_id] = (lot_id, int(period[:4]))
        s = sums[key]
        s["invoiced"] += incl
        s["deducted"] += deductions
        s["not_certified"] += max(incl - deductions - max(payable, ZERO), ZERO)
    for corrects_id, amount in db.session.execute(
            sa.select(Invoice.corrects_id, Invoice.amount_incl_tax)
            .where(Invoice.kind == "credit_note", Invoice.status != InvoiceStatus.REJECTED)).all():
        if corrects_id in key_of:
            sums[key_of[corrects_id]]["credited"] += amount
    for invoice_id, amount in db.session.execute(
            sa.select(Reconciliation.invoice_id, Reconciliation.amount)).all():
        if invoice_id in key_of:
            sums[key_of[invoice_id]]["paid"] += amount
    for s in sums.values():
        s["outstanding"] = (s["invoiced"] - s["credited"] - s["deducted"] - s["not_certified"]
                            - s["paid"])
    return sums


def check_finance(audit, lots, today):
    from fc_market.billing import service as billing
    by_id = {l.id: l for l in lots}
    expected = _finance_rows(list(by_id))
    years = sorted({year for _, year in expected}) or [today.year]
    for year in years:
        figures = billing.finance_figures(list(by_id), year, today)
        for lot_id, f in figures.items():
            lot = by_id[lot_id]
            want = expected.get((lot_id, year))
            if want is None:
                want = {k: ZERO for k in billing.IDENTITY_TERMS}
            where = f"/finances?annee={year} et /lots/{lot.code}/finances?annee={year} ({lot.code})"
            for term in billing.IDENTITY_TERMS:
                audit.compare("finance", where, f"colonne {TERM_LABELS[term]}", f[term], want[term])
            audit.compare("finance", where, "Facturé − Avoirs − Pénalités déduites − Au-delà du "
                          "certifié − Payé = Reste à payer",
                          f["outstanding"], f["invoiced"] - f["credited"] - f["deducted"]
                          - f["not_certified"] - f["paid"])


TERM_LABELS = {"invoiced": "Facturé TTC", "credited": "Avoirs", "deducted": "Pénalités déduites",
               "not_certified": "Au-delà du certifié", "paid": "Payé",
               "outstanding": "Reste à payer"}


# -------------------------------------------------------------------- invoices

def check_invoices(audit, lots, today):
    from fc_market.billing import service as billing
    from fc_market.billing.models import Invoice, InvoiceStatus, Reconciliation
    lot_ids = [l.id for l in lots]
    invoices = db.session.scalars(
        sa.select(Invoice).where(Invoice.lot_id.in_(lot_ids), Invoice.kind == "invoice")
        .options(sa.orm.selectinload(Invoice.reconciliations).selectinload(Reconciliation.payment),
                 sa.orm.selectinload(Invoice.credit_notes), sa.orm.joinedload(Invoice.statement),
                 sa.orm.selectinload(Invoice.interruption),
                 sa.orm.joinedload(Invoice.lot).joinedload(Lot.contract))).all()
    for inv in invoices:
        where = f"/factures/{inv.id} et /factures ({inv.lot.code}, {inv.number})"
        if inv.status == InvoiceStatus.REJECTED:
            audit.compare("invoices", where, "rapprochement d'une facture rejetée",
                          inv.match_label == "Conforme", False)
            audit.compare("invoices", where, "montant dû d'une facture rejetée",
                          billing.amount_due(inv), ZERO)
            continue
        credit = sum((n.amount_incl_tax for n in inv.credit_notes if n.status != InvoiceStatus.REJECTED), ZERO)
        certified = min(inv.amount_incl_tax - inv.deductions, max(inv.statement.amount_payable, ZERO))
        audit.compare("invoices", where, "Montant dû (net à payer certifié − avoirs)",
                      billing.amount_due(inv), max(certified - credit, ZERO))
        total_paid = sum((r.amount for r in inv.reconciliations), ZERO)
        if inv.reconciliations and total_paid >= max(certified - credit, ZERO):
            last = max(r.payment.paid_on for r in inv.reconciliations)
            if last <= today:
                clock = billing.payment_clock(inv, today)
                audit.compare("invoices", where, "délai de paiement (réception → paiement, jours)",
                              clock.delay_days if clock else None, (last - inv.received_on).days)


# -------------------------------------------------------------------- coverage

def _haversine_km(lat1, lon1, lat2, lon2):
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlmb = math.radians(lat2 - lat1), math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def check_coverage(audit, lots, today):
    """Each lot's coverage as the screens show it (``territory.service.lot_coverage``)
    against a plain haversine loop over the inputs it is computed from
    (``territory.service.coverage_inputs``: communes, counted open sites, radius)."""
    from fc_market.territory import service as territory
    coverage = territory.all_coverage(lots, today)
    for lot in lots:
        result = coverage[lot.id].rule
        inputs = territory.coverage_inputs(lot, today)
        radius = inputs.radius_km
        covered = total = 0
        for commune in inputs.communes:
            total += commune.population
            if any(_haversine_km(commune.lat, commune.lon, site.lat, site.lon)
                   <= radius + DISTANCE_TOLERANCE_KM for site in inputs.sites):
                covered += commune.population
        kinds = ", ".join(inputs.site_kinds)
        where = f"/maillage, /lots/{lot.code} et tableaux de bord ({lot.code})"
        audit.compare("coverage", where, "population du lot", result.total_population, total)
        audit.compare("coverage", where, f"population à moins de {radius:g} km d'un site ({kinds})",
                      result.covered_population, covered)


# ------------------------------------------------------------------------ run

def run(today=None, checks=None):
    """Run the checks (all by default); returns the result dict (nothing is written)."""
    today = today or date.today()
    lots = db.session.scalars(sa.select(Lot).order_by(Lot.code)).all()
    audit = Audit()
    steps = {"volumes": lambda: check_volumes(audit, lots),
             "statements": lambda: check_statements(audit, lots),
             "finance": lambda: check_finance(audit, lots, today),
             "invoices": lambda: check_invoices(audit, lots, today),
             "coverage": lambda: check_coverage(audit, lots, today)}
    for name in checks or steps:
        steps[name]()
    return audit.result(today)


def store(result, source="cli", session=None):
    """Record a run (in ``session``, by default the unit's)."""
    session = session or db.session
    row = FiguresAudit(ran_at=utcnow(), ok=result["ok"], checked=result["checked"],
                       disagreement_count=len(result["disagreements"]),
                       result={**result, "disagreements": result["disagreements"][:500]},
                       source=source)
    session.add(row)
    session.flush()
    return row


def last_audit():
    """The latest stored run, or None."""
    return db.session.scalar(sa.select(FiguresAudit).order_by(FiguresAudit.ran_at.desc(),
                                                              FiguresAudit.id.desc()).limit(1))


def summary_fr(result):
    lines = [f"Audit des chiffres au {date.fromisoformat(result['date']):%d/%m/%Y} : "
             f"{result['checked']} chiffre(s) comparé(s), "
             + ("aucun désaccord." if result["ok"] else f"{len(result['disagreements'])} désaccord(s).")]
    for name, c in result["checks"].items():
        lines.append(f"  {c['label']} : {c['compared']} comparé(s), {c['disagreements']} désaccord(s)")
    for d in result["disagreements"]:
        lines.append(f"  ✗ {d['where']} — {d['what']} : affiché {d['shown']}, recalculé {d['expected']}")
    return "\n".join(lines)
