"""Read models of the reporting screens: period lists, review queue, a version beside the
lot's previous months and the national picture, anomalies.  Grouped queries only."""
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date

import sqlalchemy as sa

from fc_market.extensions import db
from fc_market.market.dates import add_months, parse_period, period_of
from fc_market.market.models import FlagRule, Lot, UnitOfWork
from fc_market.market.terms import lot_terms
from fc_market.reporting.checks import (DEFAULT_VOLUME_CHANGE, VOLUME_HISTORY_MONTHS, VOLUME_MIN_MEAN,
                                        live_versions_clause)
from fc_market.reporting.models import (Act, AlertStatus, DoubleFinancingAlert, LotFigures, Report,
                                        ReportVersion, VersionStatus)
from fc_market.reporting import service
from fc_market.territory.population import lot_population

#: Deviation from the lot's own mean or from the national rate per 1,000 that is highlighted
HIGHLIGHT = DEFAULT_VOLUME_CHANGE


def beneficiary_units(market_id):
    return db.session.scalars(sa.select(UnitOfWork).where(UnitOfWork.market_id == market_id,
                                                          UnitOfWork.kind == "beneficiary")
                              .order_by(UnitOfWork.sort_order)).all()


def _rate(part, whole):
    return (part / whole) if whole else None


@dataclass
class PeriodRow:
    period: str
    due_on: date
    report: object = None
    versions: list = field(default_factory=list)
    #: The day read: a report still not submitted after its deadline is late "so far"
    today: date | None = None

    @property
    def latest(self):
        return self.versions[-1] if self.versions else None

    @property
    def in_force(self):
        pending = [v for v in self.versions if v.status == VersionStatus.SUBMITTED]
        validated = [v for v in self.versions if v.status == VersionStatus.VALIDATED]
        return (pending or validated or [None])[-1]

    @property
    def first_submitted(self):
        return next((v for v in self.versions if v.submitted_at is not None), None)

    @property
    def days_late(self):
        """Days late of the first submission; for a report not submitted yet, the days
        run so far since the deadline (None before it)."""
        first = self.first_submitted
        if first is not None:
            return first.days_late
        if self.today is not None and self.today > self.due_on:
            return (self.today - self.due_on).days
        return None

    @property
    def late_running(self):
        return self.first_submitted is None and bool(self.days_late)

    @property
    def state(self):
        """(label, css class) summarising the period."""
        latest = self.latest
        if latest is None:
            if self.report is not None and self.report.late_since:
                return "En retard — non déposé", "bad"
            return "Non déposé", ""
        if latest.status == VersionStatus.DRAFT:
            suffix = " (en retard)" if self.report and self.report.late_since and not self.first_submitted else ""
            return f"Brouillon en cours{suffix}", "warn" if suffix else ""
        css = {VersionStatus.VALIDATED: "ok", VersionStatus.REJECTED: "bad",
               VersionStatus.SUBMITTED: "warn"}.get(latest.status, "")
        label = {VersionStatus.SUBMITTED: "Déposé — en attente d'examen"}.get(latest.status,
                                                                             latest.status_label)
        return label, css


def lot_periods(lot, today, newest_first=True):
    """Every period of the lot's contract up to last month (and the current month when a
    report exists), with its report and versions, in two queries."""
    periods = service.contract_periods(lot, today)
    reports = {r.period: r for r in db.session.scalars(sa.select(Report).where(Report.lot_id == lot.id))}
    current = period_of(today)
    periods = [p for p in periods if p < current or p in reports]
    versions = defaultdict(list)
    if reports:
        for v in db.session.scalars(sa.select(ReportVersion).where(ReportVersion.lot_id == lot.id)
                                    .order_by(ReportVersion.number)):
            versions[v.report_id].append(v)
    rows = []
    for p in periods:
        report = reports.get(p)
        rows.append(PeriodRow(p, report.due_on if report else service.deadline(lot, p), report,
                              versions.get(report.id, []) if report else [], today))
    return list(reversed(rows)) if newest_first else rows


def review_queue():
    """Submitted versions awaiting review, oldest submission first."""
    return db.session.scalars(sa.select(ReportVersion).where(
        ReportVersion.status == VersionStatus.SUBMITTED)
        .options(sa.orm.joinedload(ReportVersion.report).joinedload(Report.lot))
        .order_by(ReportVersion.submitted_at)).all()


def review_matrix(lots, today, months=6):
    """{lot_id: {period: PeriodRow}} for the last ``months`` periods of every lot."""
    last = add_months(today.replace(day=1), -1)
    periods = [period_of(add_months(last, -i)) for i in range(months)]
    ids = [lot.id for lot in lots]
    reports = db.session.scalars(sa.select(Report).where(Report.lot_id.in_(ids),
                                                         Report.period.in_(periods))).all()
    by_report = defaultdict(list)
    if reports:
        for v in db.session.scalars(sa.select(ReportVersion).where(
                ReportVersion.report_id.in_([r.id for r in reports])).order_by(ReportVersion.number)):
            by_report[v.report_id].append(v)
    found = {(r.lot_id, r.period): r for r in reports}
    matrix = {}
    for lot in lots:
        row = {}
        for p in periods:
            report = found.get((lot.id, p))
            row[p] = PeriodRow(p, report.due_on if report else service.deadline(lot, p), report,
                               by_report.get(report.id, []) if report else [], today)
        matrix[lot.id] = row
    return periods, matrix


# -- a version and its context ------------------------------------------------------------------

#: The profile columns :func:`version_breakdown` counts
BREAKDOWN_COLUMNS = ("mode", "sex", "age_band", "csp", "employment_status", "sector")


def version_breakdown(version):
    """Counts of one version: by UO, mode, profile; distinct beneficiaries.  PostgreSQL
    counts them in one pass over the version's acts (GROUPING SETS); elsewhere one query
    per count."""
    if db.session.get_bind().dialect.name == "postgresql":
        return _breakdown_in_one_pass(version)
    t = Act.__table__
    base = sa.select(sa.func.count()).select_from(t).where(t.c.version_id == version.id)
    by_uo = dict(db.session.execute(
        sa.select(UnitOfWork.code, sa.func.count()).select_from(t)
        .join(UnitOfWork, UnitOfWork.id == t.c.uo_id)
        .where(t.c.version_id == version.id).group_by(UnitOfWork.code)).all())
    out = {"by_uo": by_uo, "total": db.session.scalar(base),
           "beneficiaries": db.session.scalar(sa.select(sa.func.count(sa.distinct(t.c.beneficiary_id)))
                                              .where(t.c.version_id == version.id))}
    for name in BREAKDOWN_COLUMNS:
        col = t.c[name]
        out[name] = dict(db.session.execute(sa.select(col, sa.func.count()).where(
            t.c.version_id == version.id).group_by(col)).all())
    return out


def _breakdown_in_one_pass(version):
    """:func:`version_breakdown` with every count by UO and profile column from one GROUPING
    SETS query: ``GROUPING(...)`` tells which column a row counts (a NULL value is a group
    of its own, as with GROUP BY)."""
    t = Act.__table__
    columns = [t.c.uo_id, *(t.c[name] for name in BREAKDOWN_COLUMNS)]
    last = len(columns) - 1
    counted_by = {sum(1 << (last - j) for j in range(len(columns)) if j != k): k
                  for k in range(len(columns))}
    stmt = (sa.select(*columns, sa.func.grouping(*columns), sa.func.count())
            .where(t.c.version_id == version.id)
            .group_by(sa.func.grouping_sets(*(sa.tuple_(c) for c in columns))))
    codes = dict(db.session.execute(sa.select(UnitOfWork.id, UnitOfWork.code)).all())
    by_column = [dict() for _ in columns]
    for row in db.session.execute(stmt):
        k = counted_by[row[len(columns)]]
        by_column[k][row[k]] = row[-1]
    by_uo = Counter()
    for uo_id, count in by_column[0].items():
        by_uo[codes[uo_id]] += count
    out = {"by_uo": dict(by_uo), "total": sum(by_column[0].values()),
           "beneficiaries": db.session.scalar(sa.select(sa.func.count(sa.distinct(t.c.beneficiary_id)))
                                              .where(t.c.version_id == version.id))}
    for k, name in enumerate(BREAKDOWN_COLUMNS, start=1):
        out[name] = by_column[k]
    return out


def _live_counts(where):
    """[(lot_id, period, uo_code, count)] of live versions matching ``where``: the versions
    first, then their acts through the version index (a join from the acts side would
    scan the whole table)."""
    versions = {vid: (lot_id, period) for vid, lot_id, period in db.session.execute(
        sa.select(ReportVersion.id, Report.lot_id, Report.period)
        .join(Report, Report.id == ReportVersion.report_id)
        .where(live_versions_clause(), *where))}
    if not versions:
        return []
    codes = dict(db.session.execute(sa.select(UnitOfWork.id, UnitOfWork.code)).all())
    counts = Counter()
    for version_id, uo_id, count in db.session.execute(
            sa.select(Act.version_id, Act.uo_id, sa.func.count())
            .where(Act.version_id.in_(list(versions)))
            .group_by(Act.version_id, Act.uo_id)):
        counts[(*versions[version_id], codes[uo_id])] += count
    return [(lot_id, period, code, count) for (lot_id, period, code), count in counts.items()]


def _live_figures(where):
    stmt = (sa.select(Report.lot_id, Report.period, LotFigures)
            .select_from(LotFigures).join(ReportVersion, ReportVersion.id == LotFigures.version_id)
            .join(Report, Report.id == ReportVersion.report_id)
            .where(live_versions_clause(), *where))
    return db.session.execute(stmt).all()


def _figure_rates(fig):
    if fig is None:
        return {}
    return {"l1": _rate(fig.l1_satisfied, fig.l1_respondents),
            "l2": _rate(fig.l2_satisfied, fig.l2_respondents),
            "useful": _rate(fig.usefulness_useful, fig.usefulness_respondents),
            "complaints": fig.complaints}


def lot_history(lot, period, months=12):
    """The lot's previous live months: [{period, by_uo, total, rates}] newest first."""
    start, _ = parse_period(period)
    first = period_of(add_months(start, -months))
    where = [Report.lot_id == lot.id, Report.period < period, Report.period >= first]
    rows = defaultdict(lambda: {"by_uo": Counter(), "rates": {}})
    for _, p, code, count in _live_counts(where):
        rows[p]["by_uo"][code] = count
    for _, p, fig in _live_figures(where):
        rows[p]["rates"] = _figure_rates(fig)
    out = []
    for p in sorted(rows, reverse=True):
        row = rows[p]
        out.append({"period": p, "by_uo": row["by_uo"], "total": sum(row["by_uo"].values()),
                    "rates": row["rates"]})
    return out


def national_picture(period, market_id):
    """Every lot's live figures for ``period``, per 1,000 inhabitants, and the national total."""
    lots = db.session.scalars(sa.select(Lot).where(Lot.market_id == market_id)
                              .order_by(Lot.number)).all()
    by_lot = {lot.id: {"lot": lot, "by_uo": Counter(), "rates": {}} for lot in lots}
    for lot_id, _, code, count in _live_counts([Report.period == period]):
        if lot_id in by_lot:
            by_lot[lot_id]["by_uo"][code] = count
    for lot_id, _, fig in _live_figures([Report.period == period]):
        if lot_id in by_lot:
            by_lot[lot_id]["rates"] = _figure_rates(fig)
    rows = []
    total, population = Counter(), 0
    for entry in by_lot.values():
        lot = entry["lot"]
        count = sum(entry["by_uo"].values())
        entry["total"] = count
        inhabitants = lot_population(lot)
        entry["per_1000"] = (count * 1000 / inhabitants) if inhabitants and count else None
        rows.append(entry)
        if count:
            total.update(entry["by_uo"])
            population += inhabitants
    national = {"by_uo": total, "total": sum(total.values()),
                "per_1000": (sum(total.values()) * 1000 / population) if population else None,
                "lots": sum(1 for r in rows if r["total"])}
    return rows, national


def anomalies(version, breakdown, history, national, rates):
    """Points the reviewer should look at: list of (css class, French text), and the set of
    highlighted UO codes."""
    out, flagged = [], set()
    lot = db.session.get(Lot, version.lot_id)
    terms = lot_terms(lot).reporting if lot.contract else None
    highlight = float(terms.volume_change_threshold) if terms else HIGHLIGHT
    min_mean = terms.volume_min_mean if terms else VOLUME_MIN_MEAN
    recent = history[:terms.volume_history_months if terms else VOLUME_HISTORY_MONTHS]
    if len(recent) >= 3:
        for code, count in sorted(breakdown["by_uo"].items()):
            mean = sum(h["by_uo"].get(code, 0) for h in recent) / len(recent)
            if mean >= min_mean and abs(count - mean) / mean > highlight:
                flagged.add(code)
                out.append(("warn", f"{code} : {count} acte(s) contre {mean:.0f} en moyenne sur les "
                                    f"{len(recent)} derniers mois du lot."))
    total = breakdown["total"]
    if lot_population(lot) and national.get("per_1000") and total:
        mine = total * 1000 / lot_population(lot)
        ref = national["per_1000"]
        if abs(mine - ref) / ref > highlight:
            out.append(("warn", f"{mine:.2f} acte(s) pour 1 000 habitants contre {ref:.2f} au "
                                "niveau national ce mois-ci.".replace(".", ",", 1)))
    floors = {r.indicator: r for r in db.session.scalars(
        sa.select(FlagRule).where(FlagRule.market_id == lot.market_id))}
    figures = version.figures
    for key, indicator, respondents in (("l1", "satisfaction_l1", "l1_respondents"),
                                        ("l2", "satisfaction_l2", "l2_respondents"),
                                        ("useful", "usefulness", "usefulness_respondents")):
        rule = floors.get(indicator)
        value = rates.get(key)
        if rule is None or value is None or figures is None:
            continue
        n = getattr(figures, respondents)
        if n >= rule.min_sample and (value < float(rule.threshold) if rule.comparison == "below"
                                     else value > float(rule.threshold)):
            out.append(("bad", f"{rule.label} : {value:.0%} pour un seuil de "
                               f"{float(rule.threshold):.0%} ({n} répondants).".replace("%", " %")))
    if version.days_late:
        out.append(("bad", f"Déposé avec {version.days_late} jour(s) de retard."))
    if version.warning_count:
        out.append(("warn", f"{version.warning_count} avertissement(s) au contrôle du fichier."))
    remote = sum(v for k, v in breakdown["mode"].items() if k != "presentiel")
    if total and remote / total > 0.6:
        out.append(("warn", f"{remote / total:.0%} des actes à distance.".replace("%", " %")))
    return out, flagged


def open_alerts_for(version):
    return db.session.scalar(sa.select(sa.func.count()).select_from(DoubleFinancingAlert).where(
        DoubleFinancingAlert.status == AlertStatus.OPEN,
        sa.or_(DoubleFinancingAlert.version_id == version.id,
               DoubleFinancingAlert.other_version_id == version.id)))
